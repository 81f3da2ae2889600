#!/usr/bin/env bash
# Builds Arca and runs its main job on the embedded defaults: a local
# directory repository and, since no cluster is assumed, Arca's test
# Kubernetes API server. Backs up a namespace of a live (test) cluster with
# the data in its volume (moved into the repository by a mover pod running
# the arca binary), deletes the namespace and its volume, restores both and
# checks the data is back; drills the backup (restored into a scratch
# namespace, compared, removed); then backs up, restores and verifies a file
# tree byte for byte.
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
# --container-path: the test kubelet runs pod commands as local processes;
# mover pods (command `arca`) find the binary just built.
target/release/arca-testcluster --kubeconfig "$KUBECONFIG" --snapshot-crds \
	--container-path "$(pwd)/target/release" > "$work/cluster.log" 2>&1 &
cluster_pid=$!
for _ in $(seq 100); do grep -q ready "$work/cluster.log" && break; sleep 0.1; done
api=$(sed -n 's/^ *server: *//p' "$KUBECONFIG" | head -n 1)
post() { curl -sf -H 'Content-Type: application/json' -X POST "$api$1" -d "$2" > /dev/null; }
post /api/v1/namespaces '{"metadata":{"name":"shop"}}'
post /api/v1/namespaces/shop/configmaps '{"metadata":{"name":"settings","labels":{"app":"shop"}},"data":{"currency":"EUR"}}'
post /api/v1/namespaces/shop/secrets '{"metadata":{"name":"db"},"stringData":{"password":"hunter2"}}'
get() { curl -sf "$api$1"; }
wait_for() { # PATH PATTERN: until the object's JSON matches
	for _ in $(seq 300); do get "$1" 2>/dev/null | grep -q "$2" && return 0; sleep 0.1; done
	echo "timed out waiting for $1 to match $2" >&2
	return 1
}
# A database-like pod: logs each start, writes its data once.
post /api/v1/namespaces/shop/persistentvolumeclaims '{"metadata":{"name":"orders"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}'
post /api/v1/namespaces/shop/pods '{"metadata":{"name":"shop-db"},"spec":{"containers":[{"name":"db","image":"busybox","command":["sh","-c","echo started >> /data/starts; [ -f /data/orders.csv ] || seq 1 5000 > /data/orders.csv; sleep 3600"],"volumeMounts":[{"name":"orders","mountPath":"/data"}]}],"volumes":[{"name":"orders","persistentVolumeClaim":{"claimName":"orders"}}]}}'
wait_for /api/v1/namespaces/shop/pods/shop-db '"phase": *"Running"'
volume_dir() { # the test provisioner's directory of claim shop/orders
	pv=$(get /api/v1/namespaces/shop/persistentvolumeclaims/orders | grep -o '"volumeName": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/')
	get "/api/v1/persistentvolumes/$pv" | grep -o '"path": *"[^"]*"' | sed 's/.*"\([^"]*\)"$/\1/'
}
wait_for /api/v1/namespaces/shop/pods/shop-db '"ready": *true'
sleep 0.5
echo "volume shop/orders holds $(wc -l < "$(volume_dir)/orders.csv") orders"

echo "== backup of the live cluster: objects, and the volume's data (CSI snapshot + mover pod)"
"$arca" backup create shop-nightly --include-namespaces shop
"$arca" backup describe shop-nightly
"$arca" volume list shop-nightly
echo "== disaster: the namespace is deleted (its volume goes with it: reclaim policy Delete)"
curl -sf -X DELETE "$api/api/v1/namespaces/shop" > /dev/null
for _ in $(seq 300); do curl -sf "$api/api/v1/namespaces/shop" > /dev/null || break; sleep 0.1; done
echo "== restore"
"$arca" restore create --from-backup shop-nightly
curl -sf "$api/api/v1/namespaces/shop/configmaps/settings" | grep -q '"currency": *"EUR"'
curl -sf "$api/api/v1/namespaces/shop/secrets/db" > /dev/null
wait_for /api/v1/namespaces/shop/pods/shop-db '"phase": *"Running"'
sleep 0.5
dir=$(volume_dir)
[ "$(wc -l < "$dir/orders.csv")" = 5000 ] || { echo "the volume's data did not come back" >&2; exit 1; }
# Two starts logged: the first came back with the data, before the pod started again.
[ "$(wc -l < "$dir/starts")" = 2 ] || { echo "the pod started before its data was restored" >&2; exit 1; }
echo "namespace shop is back, its volume filled before its pod started ($(wc -l < "$dir/orders.csv") orders)"
echo "== one volume's files, without a cluster"
"$arca" volume files shop-nightly shop/orders --target "$work/orders"
cmp "$work/orders/orders.csv" "$dir/orders.csv"
echo "== restore drill: the backup restored into drill-shop, every object and the volume's files compared, drill-shop deleted"
"$arca" verify shop-nightly --drill --wait-timeout 2m
"$arca" drills

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
