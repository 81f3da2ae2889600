#!/usr/bin/env bash
# Builds Arca and runs its main job on the embedded defaults: a local
# directory repository and, since no cluster is assumed, Arca's test
# Kubernetes API server. Backs up a namespace of a live (test) cluster,
# deletes it, restores it and checks it is back; then backs up, restores and
# verifies a file tree byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p arca-cli -p arca-testcluster
arca=target/release/arca

work=$(mktemp -d "${TMPDIR:-/tmp}/arca-quickstart.XXXXXX")
cluster_pid=
cleanup() {
	[ -n "$cluster_pid" ] && kill "$cluster_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
export ARCA_REPO="$work/repo" ARCA_PASSWORD="${ARCA_PASSWORD:-quickstart}"

echo "== repository: $ARCA_REPO"
"$arca" repo init

echo "== a Kubernetes cluster (Arca's test API server) with an app namespace"
export KUBECONFIG="$work/kubeconfig"
target/release/arca-testcluster --kubeconfig "$KUBECONFIG" > "$work/cluster.log" 2>&1 &
cluster_pid=$!
for _ in $(seq 100); do grep -q ready "$work/cluster.log" && break; sleep 0.1; done
api=$(sed -n 's/^ *server: *//p' "$KUBECONFIG" | head -n 1)
post() { curl -sf -H 'Content-Type: application/json' -X POST "$api$1" -d "$2" > /dev/null; }
post /api/v1/namespaces '{"metadata":{"name":"shop"}}'
post /api/v1/namespaces/shop/configmaps '{"metadata":{"name":"settings","labels":{"app":"shop"}},"data":{"currency":"EUR"}}'
post /api/v1/namespaces/shop/secrets '{"metadata":{"name":"db"},"stringData":{"password":"hunter2"}}'

echo "== backup of the live cluster"
"$arca" backup create shop-nightly --include-namespaces shop
"$arca" backup describe shop-nightly
echo "== disaster: the namespace is deleted"
curl -sf -X DELETE "$api/api/v1/namespaces/shop" > /dev/null
for _ in $(seq 100); do curl -sf "$api/api/v1/namespaces/shop" > /dev/null || break; sleep 0.1; done
echo "== restore"
"$arca" restore create --from-backup shop-nightly
curl -sf "$api/api/v1/namespaces/shop/configmaps/settings" | grep -q '"currency": *"EUR"'
curl -sf "$api/api/v1/namespaces/shop/secrets/db" > /dev/null
echo "namespace shop is back"

sample="$work/sample"
mkdir -p "$sample/etc" "$sample/data/empty"
cp -r docs "$sample/etc/"
head -c 8388608 /dev/urandom > "$sample/data/random.bin"
ln -s ../etc/docs "$sample/data/docs-link"

echo "== file backup (the volume data mover)"
"$arca" fs backup "$sample" --tag quickstart
echo "== unchanged re-backup (reads no file contents)"
"$arca" fs backup "$sample" --tag quickstart
"$arca" snapshots
echo "== restore"
"$arca" fs restore latest --target "$work/restore"
diff -r --no-dereference "$sample" "$work/restore"
echo "== check"
"$arca" repo check --read-data
echo "quickstart: Kubernetes and file backups restored; repository check passed"
