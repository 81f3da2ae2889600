#!/usr/bin/env bash
# Builds Arca's container image as an OCI image layout without a Docker
# engine, with the same layout as the Dockerfile: a base of Debian 12 packages
# (the C library and what the binary links, plus ca-certificates), a non-root
# user 65532, and the `arca` binary at /usr/local/bin/arca as the entrypoint.
#
#   scripts/build-image.sh [--binary PATH] [--output DIR] [--tag TAG] [--archive FILE]
#
#   --binary PATH   the arca binary to put in (default: `cargo build --release
#                   --locked -p arca-cli`); a stripped copy goes into the image
#   --output DIR    the OCI layout to write (default: target/image/arca;
#                   replaced if it exists)
#   --tag TAG       the image's tag in the layout (default: the workspace version)
#   --archive FILE  also write an oci-archive (a tar of the layout) with skopeo
#
# Tools: umoci (Debian package `umoci`), skopeo for --archive, apt-get and
# dpkg-deb. Missing packages are installed with apt-get when run as root;
# otherwise the script names the package to install. Runs rootless too (then
# every file in the image is owned by root and /home/arca is world-writable).
#
# Times in the image (file times, created, history) come from
# SOURCE_DATE_EPOCH, default the last commit's time, so two builds of the same
# binary from the same packages give the same layer digests.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

USER_ID=65532
USER_NAME=arca
# The packages every image gets (a shell and coreutils, as the Dockerfile's
# base has them, for pipeline scripts such as `arca backup create
# pre-deploy-$(date +%s)`); the shared libraries of the binary and of these
# programs add theirs.
BASE_PACKAGES=(libc6 libgcc-s1 ca-certificates dash coreutils)

log() { printf 'build-image: %s\n' "$*" >&2; }
die() {
	printf 'build-image: error: %s\n' "$*" >&2
	exit 1
}

binary=
output=target/image/arca
tag=
archive=
while [ $# -gt 0 ]; do
	case "$1" in
	--binary) binary=${2:?--binary needs a path}; shift 2 ;;
	--output) output=${2:?--output needs a directory}; shift 2 ;;
	--tag) tag=${2:?--tag needs a value}; shift 2 ;;
	--archive) archive=${2:?--archive needs a file}; shift 2 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
done

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || die "cannot read the workspace version from Cargo.toml"
tag=${tag:-$version}
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
export SOURCE_DATE_EPOCH
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

# Makes sure the commands exist, installing their Debian packages as root.
need() {
	local package=$1
	shift
	local cmd missing=0
	for cmd in "$@"; do command -v "$cmd" >/dev/null || missing=1; done
	[ "$missing" = 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "'$*' not found: install the Debian package '$package' (apt-get install $package)"
	log "installing $package (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y install "$package" >/dev/null ||
		{ apt-get -q update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y install "$package" >/dev/null; } ||
		die "apt-get install $package failed"
}
need umoci umoci
need dpkg dpkg-deb
need binutils strip
[ -z "$archive" ] || need skopeo skopeo

case "$(dpkg --print-architecture)" in
amd64 | arm64 | ppc64el | s390x | riscv64) arch=$(dpkg --print-architecture) ;;
*) die "unsupported architecture $(dpkg --print-architecture)" ;;
esac
[ "$arch" = ppc64el ] && oci_arch=ppc64le || oci_arch=$arch

if [ -z "$binary" ]; then
	log "building the release binary (cargo build --release --locked -p arca-cli)"
	cargo build --release --locked -p arca-cli >&2
	binary=${CARGO_TARGET_DIR:-target}/release/arca
fi
[ -f "$binary" ] && [ -x "$binary" ] || die "the binary '$binary' does not exist or is not executable"

work=$(mktemp -d "${TMPDIR:-/tmp}/arca-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
base=$work/base
app=$work/app
mkdir -p "$base" "$app/usr/local/bin" "$work/debs"

install -m 0755 "$binary" "$app/usr/local/bin/arca"
strip "$app/usr/local/bin/arca" || die "cannot strip $binary"

# Unpacked without maintainer scripts; a dpkg status file lists them so
# image scanners know what the image holds.
mkdir -p "$base/var/lib/dpkg"
: >"$base/var/lib/dpkg/status"
unpack_packages() {
	rm -f "$work"/debs/*.deb
	(cd "$work/debs" && apt-get -q download "$@" >/dev/null 2>"$work/apt.log") || {
		cat "$work/apt.log" >&2
		die "apt-get download $* failed (run apt-get update?)"
	}
	local deb
	for deb in "$work"/debs/*.deb; do
		dpkg-deb -x "$deb" "$base"
		{ dpkg-deb -f "$deb" | sed '/^Package:/a Status: install ok installed'; echo; } >>"$base/var/lib/dpkg/status"
	done
}

# The Debian packages owning the shared libraries the given ELF files link
# (as ldd resolves them on this Debian machine), one a line.
library_packages() {
	local lib real owner
	ldd "$@" 2>/dev/null | awk '/=> not found/ { print "missing:" $1 } /=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' | sort -u |
		while read -r lib; do
			case "$lib" in missing:*) echo "${lib#missing:} (not on this machine)" >>"$work/unowned"; continue ;; esac
			real=$(readlink -f "$lib")
			# On a merged-/usr machine ldd may name /usr/lib/… where the package has /lib/….
			if owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null); then
				echo "${owner%%:*}"
			else
				echo "$lib (no Debian package owns it)" >>"$work/unowned"
			fi
		done
}

# The base set, then until nothing is missing: the packages of what the
# binary and the base's programs link.
packages=()
wanted=("${BASE_PACKAGES[@]}")
: >"$work/programs"
for _ in 1 2 3 4 5; do
	[ ${#wanted[@]} -gt 0 ] || break
	unpack_packages "${wanted[@]}"
	packages+=("${wanted[@]}")
	# Only the programs this round added: ldd is slow.
	find "$app" "$base/bin" "$base/usr/bin" -type f -perm -u+x 2>/dev/null | LC_ALL=C sort >"$work/programs.new"
	mapfile -t programs < <(LC_ALL=C comm -13 "$work/programs" "$work/programs.new")
	mv "$work/programs.new" "$work/programs"
	mapfile -t wanted < <(library_packages "${programs[@]}" | sort -u | grep -vxF -f <(printf '%s\n' "${packages[@]}") || true)
done
[ ! -s "$work/unowned" ] || die "the image's programs link libraries it cannot get: $(sort -u "$work/unowned" | paste -sd, -)"
[ ${#wanted[@]} -eq 0 ] || die "the packages' libraries did not settle (still missing: ${wanted[*]})"
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
log "base packages: ${packages[*]}"

# What update-ca-certificates would generate: the one bundle every TLS
# stack finds at the Debian path.
mkdir -p "$base/etc/ssl/certs"
find "$base/usr/share/ca-certificates" -name '*.crt' | LC_ALL=C sort | xargs cat >"$base/etc/ssl/certs/ca-certificates.crt"
[ -s "$base/etc/ssl/certs/ca-certificates.crt" ] || die "ca-certificates gave no certificates"
# Trim what a single static-ish binary never reads.
rm -rf "$base/usr/share/doc" "$base/usr/share/man" "$base/usr/share/lintian" "$base/usr/share/locale" "$base/usr/lib/"*/gconv

cat >"$base/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
$USER_NAME:x:$USER_ID:$USER_ID:Arca:/home/$USER_NAME:/usr/sbin/nologin
EOF
cat >"$base/etc/group" <<EOF
root:x:0:
$USER_NAME:x:$USER_ID:
EOF
echo "hosts: files dns" >"$base/etc/nsswitch.conf"
mkdir -p "$base/tmp" "$base/home/$USER_NAME" "$base/root"
chmod 1777 "$base/tmp"
if [ "$(id -u)" = 0 ]; then
	chown -R 0:0 "$base" "$app"
	chown "$USER_ID:$USER_ID" "$base/home/$USER_NAME"
	chmod 0750 "$base/home/$USER_NAME"
	userns=()
else
	chmod 1777 "$base/home/$USER_NAME"
	userns=(--rootless)
fi
# Two layers, as the Dockerfile's: the base, then the binary. umoci repack
# writes the difference of the bundle's rootfs since the last unpack/repack.
rm -rf "$output"
mkdir -p "$(dirname "$output")"
image="$output:$tag"
bundle=$work/bundle
umoci init --layout "$output"
umoci new --image "$image"
umoci unpack "${userns[@]}" --image "$image" "$bundle" >/dev/null
add_layer() {
	cp -a "$1/." "$bundle/rootfs/"
	find "$bundle/rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	umoci repack --refresh-bundle --image "$image" --history.created "$created" --history.created_by "$2" "$bundle"
}
add_layer "$base" "Debian 12 packages: ${packages[*]}; user $USER_NAME ($USER_ID)"
add_layer "$app" "arca $version"
umoci config --image "$image" --created "$created" --history.created "$created" \
	--history.created_by "entrypoint, user, environment, labels" \
	--os linux --architecture "$oci_arch" \
	--config.entrypoint /usr/local/bin/arca \
	--config.user "$USER_ID:$USER_ID" \
	--config.workingdir "/home/$USER_NAME" \
	--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--config.env HOME="/home/$USER_NAME" \
	--config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
	--config.label org.opencontainers.image.title=arca \
	--config.label "org.opencontainers.image.description=Kubernetes-native backup and disaster recovery" \
	--config.label "org.opencontainers.image.version=$version" \
	--config.label "org.opencontainers.image.revision=$revision" \
	--config.label org.opencontainers.image.licenses=Apache-2.0 \
	--config.label org.opencontainers.image.base.name=debian:bookworm-slim \
	--config.label "org.opencontainers.image.created=$created"
umoci gc --layout "$output"
# umoci writes blobs private to its user; an image layout is for sharing.
chmod -R a+rX "$output"
log "wrote the OCI layout $output (tag $tag)"

if [ -n "$archive" ]; then
	rm -f "$archive"
	skopeo copy --quiet "oci:$output:$tag" "oci-archive:$archive:$tag"
	log "wrote the OCI archive $archive"
fi
