# syntax=docker/dockerfile:1
# Arca's container image: the `arca` binary on Debian 12, run as user 65532.
#
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t arca:0.1.0 .
#
# scripts/build-image.sh builds the same layout without a Docker engine (from
# Debian packages, with umoci); scripts/check-image.sh checks either.

# The toolchain Arca is built and tested with (the workspace needs >= 1.85).
ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build between builds; the binary is
# copied out in the same step since the target dir is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p arca-cli \
 && install -D -m 0755 target/release/arca /out/usr/local/bin/arca \
 && strip /out/usr/local/bin/arca

FROM debian:bookworm-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
# ca-certificates: TLS to API servers and object stores. The shell and
# coreutils of the base stay: pipeline jobs run `sh -c 'arca … $(date …)'`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 arca \
 && useradd --uid 65532 --gid 65532 --home-dir /home/arca --create-home --shell /usr/sbin/nologin --comment Arca arca \
 && chmod 0750 /home/arca
COPY --from=builder /out/ /
LABEL org.opencontainers.image.title="arca" \
      org.opencontainers.image.description="Kubernetes-native backup and disaster recovery" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
ENV HOME=/home/arca \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /home/arca
ENTRYPOINT ["/usr/local/bin/arca"]
