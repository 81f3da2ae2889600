#!/usr/bin/env bash
# Checks an OCI image layout of Arca (as scripts/build-image.sh writes it) and
# runs the binary it holds:
#
#   scripts/check-image.sh DIR [--tag TAG]
#
# Checks, in order: the layout (oci-layout, index.json), index → manifest →
# config and layers with every blob's size and sha256 digest, the layers'
# uncompressed digests against the config's diff_ids, the config (os,
# architecture, entrypoint /usr/local/bin/arca, user 65532, PATH), the arca
# binary as an executable regular file in a layer, its ELF interpreter and
# the CA bundle and user 65532 in the unpacked rootfs. Then it runs
# `arca --version` and `arca repo init` from the rootfs: as root in a chroot as
# user 65532 (only the image's files and libraries), otherwise through the
# rootfs's own dynamic loader and libraries; and the shell and `date` the
# pipeline examples use.
#
# Exits non-zero with `check-image: FAILED: <check>: <why>` on the first
# failed check. Needs python3, tar and (for the chroot) root.
set -euo pipefail

log() { printf 'check-image: %s\n' "$*" >&2; }
fail() {
	printf 'check-image: FAILED: %s\n' "$*" >&2
	exit 1
}

layout=
tag=
while [ $# -gt 0 ]; do
	case "$1" in
	--tag) tag=${2:?--tag needs a value}; shift 2 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
	-*) fail "arguments: unknown option '$1' (see --help)" ;;
	*) [ -z "$layout" ] || fail "arguments: more than one layout given"; layout=$1; shift ;;
	esac
done
[ -n "$layout" ] || fail "arguments: give the OCI layout directory (e.g. target/image/arca)"
[ -d "$layout" ] || fail "layout: $layout is not a directory"
command -v python3 >/dev/null || fail "tools: python3 not found (apt-get install python3)"

work=$(mktemp -d "${TMPDIR:-/tmp}/arca-image-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

# The layout and its blobs; unpacks the layers into $rootfs and prints where
# the binary's ELF interpreter is in it (empty for a static binary).
interp=$(python3 - "$layout" "$tag" "$rootfs" <<'EOF'
import gzip, hashlib, json, os, platform, shutil, struct, sys, tarfile

layout, tag, rootfs = sys.argv[1], sys.argv[2], sys.argv[3]
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYERS = ("application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar")
ARCA = "usr/local/bin/arca"
USER_ID = "65532"


def fail(check, why):
    print(f"check-image: FAILED: {check}: {why}", file=sys.stderr)
    sys.exit(1)


def ok(check, what):
    print(f"check-image: ok: {check}: {what}", file=sys.stderr)


def load_json(check, path):
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        fail(check, f"cannot read {path}: {e}")


def blob(check, desc):
    """The blob a descriptor names, its size and sha256 digest checked."""
    digest = desc.get("digest", "")
    alg, _, hexpart = digest.partition(":")
    if alg != "sha256" or len(hexpart) != 64:
        fail(check, f"digest {digest!r} is not sha256:<64 hex>")
    path = os.path.join(layout, "blobs", alg, hexpart)
    if not os.path.isfile(path):
        fail(check, f"blob {digest} is missing ({path})")
    size = os.path.getsize(path)
    if size != desc.get("size"):
        fail(check, f"blob {digest} has {size} bytes, the descriptor says {desc.get('size')}")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != hexpart:
        fail(check, f"blob {digest} hashes to sha256:{h.hexdigest()}")
    return path


layout_file = load_json("layout", os.path.join(layout, "oci-layout"))
if layout_file.get("imageLayoutVersion") != "1.0.0":
    fail("layout", f"oci-layout has imageLayoutVersion {layout_file.get('imageLayoutVersion')!r}, want 1.0.0")
index = load_json("index", os.path.join(layout, "index.json"))
manifests = index.get("manifests") or []
if index.get("schemaVersion") != 2 or not manifests:
    fail("index", "index.json is not schemaVersion 2 with at least one manifest")
if tag:
    manifests = [m for m in manifests if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
    if not manifests:
        fail("index", f"no manifest tagged {tag!r}")
desc = manifests[0]
if desc.get("mediaType") != MANIFEST:
    fail("index", f"manifest media type {desc.get('mediaType')!r}, want {MANIFEST}")
ok("index", f"manifest {desc['digest']}")

manifest = load_json("manifest", blob("manifest", desc))
if manifest.get("schemaVersion") != 2 or manifest.get("config", {}).get("mediaType") != CONFIG:
    fail("manifest", f"not schemaVersion 2 with a config of type {CONFIG}")
config = load_json("config", blob("config", manifest["config"]))
layers = manifest.get("layers") or []
if not layers:
    fail("manifest", "no layers")
ok("manifest", f"config {manifest['config']['digest']}, {len(layers)} layers, digests match")

machine = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
want_arch = machine.get(platform.machine(), platform.machine())
if config.get("os") != "linux" or config.get("architecture") != want_arch:
    fail("config", f"platform {config.get('os')}/{config.get('architecture')}, want linux/{want_arch}")
cfg = config.get("config") or {}
if cfg.get("Entrypoint") != ["/usr/local/bin/arca"]:
    fail("config", f"entrypoint {cfg.get('Entrypoint')!r}, want ['/usr/local/bin/arca']")
if cfg.get("User", "").split(":")[0] != USER_ID:
    fail("config", f"user {cfg.get('User')!r}, want {USER_ID} (non-root)")
env = dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)
if "/usr/local/bin" not in env.get("PATH", "").split(":"):
    fail("config", f"PATH {env.get('PATH')!r} lacks /usr/local/bin")
labels = cfg.get("Labels") or {}
for label in ("org.opencontainers.image.title", "org.opencontainers.image.version"):
    if not labels.get(label):
        fail("config", f"label {label} missing")
diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
if len(diff_ids) != len(layers):
    fail("config", f"{len(diff_ids)} diff_ids for {len(layers)} layers")
ok("config", f"linux/{want_arch}, entrypoint /usr/local/bin/arca, user {cfg['User']}, version {labels['org.opencontainers.image.version']}")


# Newer Pythons filter what extract writes; the names are checked here, and
# absolute links must stay as they are (they point into the rootfs).
TRUSTED = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def safe_name(name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


os.makedirs(rootfs)
binary_layer = None
for i, (layer, diff_id) in enumerate(zip(layers, diff_ids)):
    check = f"layer {i + 1}"
    if layer.get("mediaType") not in LAYERS:
        fail(check, f"media type {layer.get('mediaType')!r}")
    path = blob(check, layer)
    opener = gzip.open if layer["mediaType"].endswith("gzip") else open
    h = hashlib.sha256()
    try:
        with opener(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except (OSError, EOFError) as e:
        fail(check, f"cannot decompress {layer['digest']}: {e}")
    if f"sha256:{h.hexdigest()}" != diff_id:
        fail(check, f"uncompressed digest sha256:{h.hexdigest()}, the config's diff_id is {diff_id}")
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            dirs = []
            for m in members:
                name = safe_name(m.name)
                if name is None:
                    fail(check, f"entry {m.name!r} leaves the rootfs")
                base, leaf = os.path.split(name)
                if leaf == ".wh..wh..opq":
                    target = os.path.join(rootfs, base)
                    for child in os.listdir(target) if os.path.isdir(target) else []:
                        shutil.rmtree(os.path.join(target, child), ignore_errors=True)
                    continue
                if leaf.startswith(".wh."):
                    gone = os.path.join(rootfs, base, leaf[4:])
                    shutil.rmtree(gone, ignore_errors=True) if os.path.isdir(gone) and not os.path.islink(gone) else (os.path.lexists(gone) and os.remove(gone))
                    continue
                m.name = name or "."
                if name == ARCA:
                    if not m.isreg() or m.mode & 0o111 != 0o111:
                        fail(check, f"{ARCA} is not an executable regular file (mode {m.mode:o})")
                    binary_layer = i + 1
                tar.extract(m, rootfs, set_attrs=not m.isdir(), **TRUSTED)
                if m.isdir():
                    dirs.append(m)
            # As extractall: a directory's mode and owner once its entries are in.
            for m in reversed(dirs):
                tar.chown(m, os.path.join(rootfs, m.name), False)
                tar.chmod(m, os.path.join(rootfs, m.name))
    except (tarfile.TarError, OSError, EOFError) as e:
        fail(check, f"cannot unpack {layer['digest']}: {e}")
    ok(check, f"{layer['digest']} ({len(members)} entries), diff_id matches")
if binary_layer is None:
    fail("binary", f"no layer holds /{ARCA}")
ok("binary", f"/{ARCA} is an executable file (layer {binary_layer})")

bundle = os.path.join(rootfs, "etc/ssl/certs/ca-certificates.crt")
try:
    certs = open(bundle, encoding="ascii", errors="replace").read().count("BEGIN CERTIFICATE")
except OSError as e:
    fail("ca-certificates", f"cannot read /etc/ssl/certs/ca-certificates.crt: {e}")
if certs < 10:
    fail("ca-certificates", f"/etc/ssl/certs/ca-certificates.crt holds {certs} certificates")
ok("ca-certificates", f"{certs} certificates in /etc/ssl/certs/ca-certificates.crt")

try:
    users = [line.split(":") for line in open(os.path.join(rootfs, "etc/passwd"))]
except OSError as e:
    fail("user", f"cannot read /etc/passwd: {e}")
user = next((u for u in users if len(u) > 5 and u[2] == USER_ID), None)
if user is None:
    fail("user", f"/etc/passwd has no user {USER_ID}")
if not os.path.isdir(os.path.join(rootfs, user[5].lstrip("/"))):
    fail("user", f"the home {user[5]} of user {USER_ID} is missing")
ok("user", f"{user[0]} ({USER_ID}), home {user[5]}")

# The interpreter a dynamically linked binary names (PT_INTERP) must be in the image.
with open(os.path.join(rootfs, ARCA), "rb") as f:
    elf = f.read()
if elf[:4] != b"\x7fELF" or elf[4] != 2:
    fail("binary", f"/{ARCA} is not a 64-bit ELF file")
end = "<" if elf[5] == 1 else ">"
phoff, = struct.unpack_from(end + "Q", elf, 0x20)
phentsize, phnum = struct.unpack_from(end + "HH", elf, 0x36)
interp = ""
for i in range(phnum):
    p_type, = struct.unpack_from(end + "I", elf, phoff + i * phentsize)
    if p_type == 3:
        offset, = struct.unpack_from(end + "Q", elf, phoff + i * phentsize + 8)
        size, = struct.unpack_from(end + "Q", elf, phoff + i * phentsize + 32)
        interp = elf[offset:offset + size].rstrip(b"\0").decode()

def in_rootfs(path, hops=40):
    """`path` resolved inside the rootfs (absolute links point into it, not the host)."""
    done = ""
    todo = [p for p in path.split("/") if p]
    while todo:
        part = todo.pop(0)
        if part == "..":
            done = os.path.dirname(done)
            continue
        candidate = f"{done}/{part}"
        host = rootfs + candidate
        if os.path.islink(host):
            hops -= 1
            if hops < 0:
                return None
            target = os.readlink(host)
            todo = [p for p in target.split("/") if p] + todo
            if target.startswith("/"):
                done = ""
            continue
        done = candidate
    return rootfs + done if os.path.exists(rootfs + done) else None


loader = in_rootfs(interp) if interp else ""
if loader is None:
    fail("binary", f"its loader {interp} is not in the image")
ok("binary", f"loader {interp or '(static)'} present")
print(loader)
EOF
)

# Runs the binary as the image would: chrooted as user 65532 when root,
# else with the rootfs's own loader and libraries.
run_arca() {
	if [ "$(id -u)" = 0 ] && command -v chroot >/dev/null; then
		env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/arca ARCA_PASSWORD=image-check \
			"$(command -v chroot)" --userspec=65532:65532 "$rootfs" /usr/local/bin/arca "$@"
	elif [ -n "$interp" ]; then
		local libs=
		for dir in "$rootfs"/lib/*-linux-gnu "$rootfs"/usr/lib/*-linux-gnu "$rootfs"/lib64 "$rootfs"/lib; do
			[ -d "$dir" ] && libs=${libs:+$libs:}$dir
		done
		env -i PATH=/usr/bin:/bin HOME="$work" ARCA_PASSWORD=image-check \
			"$interp" --library-path "$libs" "$rootfs/usr/local/bin/arca" "$@"
	else
		env -i PATH=/usr/bin:/bin HOME="$work" ARCA_PASSWORD=image-check "$rootfs/usr/local/bin/arca" "$@"
	fi
}
if [ "$(id -u)" = 0 ]; then how="chroot as 65532"; else how="the image's loader ${interp:-(static)}"; fi

version=$(run_arca --version 2>&1) || fail "run: arca --version exited $? ($how): $version"
case "$version" in
"arca "*) log "ok: run: '$version' ($how)" ;;
*) fail "run: arca --version printed '$version', want 'arca <version>'" ;;
esac

# A real piece of work: a repository in the image's /tmp (or a temp dir).
if [ "$(id -u)" = 0 ]; then repo=/tmp/check-repo; else repo=$work/check-repo; fi
out=$(run_arca --repo "$repo" repo init 2>&1) || fail "run: arca repo init exited $? ($how): $out"
log "ok: run: arca repo init in $repo"
# Pipeline jobs run `sh -c 'arca backup create pre-deploy-$(date …) …'`.
for tool in bin/sh bin/date; do
	[ -x "$rootfs/$tool" ] || fail "shell: /$tool is missing (pipeline examples need a shell and date)"
done
if [ "$(id -u)" = 0 ]; then
	stamp=$(env -i PATH=/usr/bin:/bin "$(command -v chroot)" --userspec=65532:65532 "$rootfs" /bin/sh -c 'date -u +%Y%m%d' 2>&1) ||
		fail "shell: sh -c date in the image exited $?: $stamp"
	log "ok: shell: sh -c date prints $stamp"
else
	log "ok: shell: /bin/sh and /bin/date present"
fi
log "image $layout passed every check"
