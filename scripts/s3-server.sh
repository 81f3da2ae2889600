#!/usr/bin/env bash
# Throwaway S3-compatible server for integration tests: a single-node Ceph
# cluster (one monitor, one in-memory "memstore" OSD) plus a RADOS Gateway,
# all bound to 127.0.0.1. Debian 12 packages, run as root.
#
#   scripts/s3-server.sh [start]   install packages if missing, start (or reuse
#                                  a running) server, print the env a test needs
#   scripts/s3-server.sh stop      stop the daemons and delete their data
#   scripts/s3-server.sh status    exit 0 if the server answers S3 requests
#   scripts/s3-server.sh env       print the env file of a running server
#   scripts/s3-server.sh install   only install the Debian packages it needs
#   scripts/s3-server.sh gateway-kill|gateway-start
#                                  SIGKILL the gateway / start it again (fault
#                                  tests; the data stays)
#
# The env lines go to stdout and progress to stderr, so a caller can do
#   eval "$(scripts/s3-server.sh start)"
#
# Everything lives under one state dir (config, mon store, logs, pid files);
# the cluster config is passed with -c, so /etc/ceph is never read or written.
# Data is in memory: a stopped server is gone, and every fresh start is empty.
#
# Environment:
#   ARCA_S3_STATE     state dir (default: <repo>/target/s3-server)
#   ARCA_S3_PORT      RGW HTTP port on 127.0.0.1 (default 7480)
#   ARCA_S3_MON_PORT  monitor port on 127.0.0.1 (default 16789)
#   ARCA_S3_MEM_GB    size of the in-memory OSD in GiB (default 4)
#   ARCA_S3_TIMEOUT   seconds to wait for each daemon (default 180)
#
# The env file <state>/env holds `export` lines: AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL,
# AWS_ALLOW_HTTP, ARCA_TEST_S3_BUCKET (a plain bucket) and
# ARCA_TEST_S3_LOCK_BUCKET (Object Lock enabled, hence versioned).
#
# Behaviour of this server (Debian 12's Ceph 16.2.15 "Pacific" RGW) that
# tests should know about:
#   - PUT with If-None-Match: * answers 412 on an existing key in an
#     unversioned bucket, but is ignored (200, a new version is written) in a
#     versioning-enabled bucket, so also in the Object Lock bucket.
#   - If-Match with the quoted ETag (as S3 returns it) always answers 412;
#     the unquoted ETag matches, but only in unversioned buckets.
#   - Multipart upload, versioning and Object Lock retention work.
#   - Object data is held in memory, at most ARCA_S3_MEM_GB (Ceph stops
#     taking writes near that); deleted data is freed within about a minute.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

STATE=${ARCA_S3_STATE:-$REPO_ROOT/target/s3-server}
PORT=${ARCA_S3_PORT:-7480}
MON_PORT=${ARCA_S3_MON_PORT:-16789}
MEM_GB=${ARCA_S3_MEM_GB:-4}
TIMEOUT=${ARCA_S3_TIMEOUT:-180}

# Fixed test credentials: this server only ever listens on loopback.
ACCESS_KEY=arcatestaccesskey
SECRET_KEY=arcatestsecretkey0123456789abcdefghijklmn
REGION=us-east-1
BUCKET=arca-test
LOCK_BUCKET=arca-test-lock
RGW_USER=arca-test

PACKAGES=(radosgw ceph-mon ceph-osd)

log() { printf '[s3-server +%ss] %s\n' "$((SECONDS - START_TS))" "$*" >&2; }
die() { printf '[s3-server] ERROR: %s\n' "$*" >&2; exit 1; }

CONF=$STATE/ceph.conf
S3PY=$SCRIPT_DIR/s3.py
START_TS=$SECONDS

ceph_cli() { timeout 60 ceph -c "$CONF" --connect-timeout 15 "$@"; }

# Print the last lines of every daemon log, for a failure message.
log_tails() {
	local f
	for f in "$STATE"/log/*.log; do
		[ -s "$f" ] || continue
		printf '\n----- last lines of %s -----\n' "$f" >&2
		tail -n 25 "$f" >&2
	done
}

# Fail a start: show the daemon logs, stop what was started, keep the logs.
fail() {
	log_tails
	stop_daemons
	die "$*  (logs in $STATE/log)"
}

# ---------------------------------------------------------------- packages
install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		check_commands
		return 0
	fi
	[ "$(id -u)" -eq 0 ] || die "packages missing (${missing[*]}) and not root to install them"
	local t0=$SECONDS
	log "installing ${missing[*]} (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	local apt=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -q -y)
	"${apt[@]}" update >/dev/null || die "apt-get update failed"
	"${apt[@]}" install --no-install-recommends "${missing[@]}" </dev/null >/dev/null ||
		die "apt-get install ${missing[*]} failed"
	log "packages installed in $((SECONDS - t0))s"
	check_commands
}

check_commands() {
	local c
	for c in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool ceph python3 flock timeout; do
		command -v "$c" >/dev/null || die "command $c not found"
	done
}

# ---------------------------------------------------------------- helpers
write_env() {
	cat >"$STATE/env.tmp" <<EOF
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT
export AWS_ALLOW_HTTP=true
export ARCA_TEST_S3_BUCKET=$BUCKET
export ARCA_TEST_S3_LOCK_BUCKET=$LOCK_BUCKET
EOF
	mv "$STATE/env.tmp" "$STATE/env"
}

s3py() {
	AWS_ACCESS_KEY_ID=$ACCESS_KEY AWS_SECRET_ACCESS_KEY=$SECRET_KEY \
		AWS_REGION=$REGION AWS_ENDPOINT_URL=http://127.0.0.1:$PORT \
		ARCA_S3_CLIENT_TIMEOUT=${ARCA_S3_CLIENT_TIMEOUT:-15} python3 "$S3PY" "$@"
}

# Is something listening on 127.0.0.1:$1?
port_open() {
	python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

# Is the process alive (a zombie, waiting to be reaped, is not)?
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
pid_alive() { [ -s "$1" ] && alive "$(cat "$1")"; }

# The server is healthy if our RGW is running and our credentials work.
healthy() {
	[ -f "$STATE/env" ] && pid_alive "$STATE/run/rgw.pid" && s3py ls >/dev/null 2>&1
}

# wait_for DESCRIPTION PIDFILE COMMAND...: poll COMMAND until it succeeds,
# failing fast (with the log tails) if the daemon behind PIDFILE dies.
wait_for() {
	local what=$1 pidfile=$2
	shift 2
	local deadline=$((SECONDS + TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		if [ -n "$pidfile" ] && ! pid_alive "$pidfile"; then
			fail "$what: daemon exited (pid file $pidfile)"
		fi
		[ $SECONDS -lt $deadline ] || fail "timed out after ${TIMEOUT}s waiting for $what"
		sleep 1
	done
}

osd_up() {
	local n
	n=$(ceph_cli osd stat -f json | python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])')
	[ "$n" -ge 1 ]
}

# ---------------------------------------------------------------- stop
# stop_pid PID SIGNAL: signal a daemon and wait (up to 10s) for it to go.
stop_pid() {
	local pid=$1 deadline=$((SECONDS + 10))
	kill "-$2" "$pid" 2>/dev/null || return 0
	while alive "$pid"; do
		if [ $SECONDS -ge $deadline ]; then
			kill -KILL "$pid" 2>/dev/null || true
			break
		fi
		sleep 0.2
	done
}

stop_daemons() {
	local name pidfile pid
	# In this order: RGW shuts down cleanly only while the OSD is still up;
	# the OSD's data is thrown away, so memstore need not save it.
	for name in rgw:TERM osd:KILL mon:TERM; do
		pidfile=$STATE/run/${name%%:*}.pid
		if pid_alive "$pidfile"; then
			stop_pid "$(cat "$pidfile")" "${name#*:}"
		fi
	done
	# Daemons of this state dir whose pid file is gone (e.g. a half-done start).
	if command -v pgrep >/dev/null; then
		for pid in $(pgrep -f -- "-c $CONF" || true); do
			if [ "$pid" != "$$" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
		done
	fi
}

cmd_stop() {
	[ -d "$STATE" ] || { log "not running (no $STATE)"; return 0; }
	with_lock
	stop_daemons
	rm -rf "$STATE/mon" "$STATE/osd" "$STATE/rgw" "$STATE/run" "$STATE/env" "$STATE/monmap" "$STATE"/*.keyring
	log "stopped"
}

with_lock() {
	mkdir -p "$STATE"
	exec 9>"$STATE/.lock"
	flock -w 900 9 || die "could not lock $STATE/.lock"
}

# ---------------------------------------------------------------- start
# launch NAME COMMAND...: run a daemon in the foreground (-f) of its own
# session, detached from this shell, and record its pid in run/NAME.pid.
launch() {
	local name=$1
	shift
	setsid "$@" -f </dev/null >"$STATE/log/$name.out" 2>&1 9>&- &
	echo $! >"$STATE/run/$name.pid"
	disown $!
}

# Admin socket path for a daemon, or nothing (no socket) if the path would be
# too long for a unix socket.
asok() {
	local path=$STATE/run/$1.asok
	[ ${#path} -lt 100 ] && printf '%s' "$path"
	return 0
}

write_conf() {
	local mem_bytes=$((MEM_GB * 1024 * 1024 * 1024))
	# $name, $cluster and $id below are ceph meta variables, not shell ones.
	cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon initial members = a
mon host = [v2:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
# With auth "none" only crc connection mode works; radosgw defaults its
# monitor connections to "secure" and then cannot authenticate at all.
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
client mount timeout = 30

auth cluster required = none
auth service required = none
auth client required = none
keyring = $STATE/admin.keyring

run dir = $STATE/run
log file = $STATE/log/\$name.log
mon cluster log file = $STATE/log/cluster.log
crash dir = $STATE/crash
log to stderr = false
err to stderr = true

osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 2
mon data avail crit = 1
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false

debug ms = 0
debug mon = 1
debug osd = 1
debug rgw = 1

[mon]
admin socket = $(asok mon)
mon data = $STATE/mon/\$cluster-\$id

[osd]
admin socket = $(asok osd)
osd data = $STATE/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $mem_bytes
osd crush update on start = true

[client.rgw.a]
admin socket = $(asok rgw)
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $STATE/rgw
rgw crypt require ssl = false
rgw enable usage log = false
# Free the (in-memory) space of deleted objects soon, not after hours.
rgw gc obj min wait = 30
rgw gc processor period = 30
log file = $STATE/log/rgw.log
EOF
}

cmd_start() {
	install_packages
	with_lock

	if healthy; then
		log "already running on 127.0.0.1:$PORT (state $STATE)"
		cat "$STATE/env"
		return 0
	fi

	# Anything left from an earlier run is useless: memstore data is gone.
	stop_daemons
	rm -rf "$STATE/mon" "$STATE/osd" "$STATE/rgw" "$STATE/run" "$STATE/log" \
		"$STATE/crash" "$STATE/env" "$STATE/monmap" "$STATE"/*.keyring "$CONF"
	mkdir -p "$STATE"/{mon/ceph-a,osd/ceph-0,rgw,run,log,crash}

	port_open "$PORT" && die "127.0.0.1:$PORT is already in use (set ARCA_S3_PORT)"
	port_open "$MON_PORT" && die "127.0.0.1:$MON_PORT is already in use (set ARCA_S3_MON_PORT)"

	FSID=$(python3 -c 'import uuid; print(uuid.uuid4())')
	local osd_uuid
	osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
	write_conf

	log "starting monitor on 127.0.0.1:$MON_PORT"
	ceph-authtool --create-keyring "$STATE/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool --create-keyring "$STATE/admin.keyring" --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
	monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$STATE/monmap" >/dev/null
	ceph-mon -c "$CONF" --mkfs -i a --monmap "$STATE/monmap" --keyring "$STATE/mon.keyring" \
		>"$STATE/log/mon-mkfs.out" 2>&1 || fail "ceph-mon --mkfs failed: $(cat "$STATE/log/mon-mkfs.out")"
	launch mon ceph-mon -c "$CONF" -i a
	wait_for "monitor" "$STATE/run/mon.pid" ceph_cli mon stat

	log "starting OSD (memstore, ${MEM_GB} GiB)"
	local osd_id
	osd_id=$(ceph_cli osd new "$osd_uuid") || fail "ceph osd new failed"
	[ "$osd_id" = 0 ] || fail "unexpected OSD id '$osd_id'"
	ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$STATE/log/osd-mkfs.out" 2>&1 ||
		fail "ceph-osd --mkfs failed: $(tail -n 20 "$STATE/log/osd-mkfs.out")"
	launch osd ceph-osd -c "$CONF" -i 0
	wait_for "OSD up" "$STATE/run/osd.pid" osd_up

	log "starting RADOS Gateway on 127.0.0.1:$PORT"
	launch rgw radosgw -c "$CONF" -n client.rgw.a
	wait_for "RGW on port $PORT" "$STATE/run/rgw.pid" port_open "$PORT"

	log "creating user and buckets"
	radosgw-admin -c "$CONF" -n client.admin user create --uid "$RGW_USER" \
		--display-name "Arca tests" --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" \
		>"$STATE/log/user-create.out" 2>&1 ||
		fail "radosgw-admin user create failed: $(tail -n 20 "$STATE/log/user-create.out")"
	wait_for "RGW to accept the test user" "$STATE/run/rgw.pid" s3py ls
	s3py mb "$BUCKET" || fail "creating bucket $BUCKET failed"
	s3py mb "$LOCK_BUCKET" --object-lock || fail "creating bucket $LOCK_BUCKET failed"
	s3py selftest "$BUCKET" >"$STATE/log/selftest.out" 2>&1 ||
		fail "S3 self test failed: $(cat "$STATE/log/selftest.out")"

	write_env
	log "ready on http://127.0.0.1:$PORT in $((SECONDS - START_TS))s (state $STATE)"
	cat "$STATE/env"
}

cmd_status() {
	if healthy; then
		log "running on 127.0.0.1:$PORT (state $STATE)"
	else
		log "not running"
		return 1
	fi
}

# The gateway alone, for fault tests: killed without a word, started again
# on the same port (the monitor and the OSD, and so the data, stay).
cmd_gateway_kill() {
	pid_alive "$STATE/run/rgw.pid" || die "the gateway is not running"
	kill -KILL "$(cat "$STATE/run/rgw.pid")"
	while pid_alive "$STATE/run/rgw.pid"; do sleep 0.1; done
	log "gateway killed"
}

cmd_gateway_start() {
	pid_alive "$STATE/run/rgw.pid" && die "the gateway is running"
	START_TS=$SECONDS
	launch rgw radosgw -c "$CONF" -n client.rgw.a
	wait_for "RGW on port $PORT" "$STATE/run/rgw.pid" port_open "$PORT"
	wait_for "RGW to accept the test user" "$STATE/run/rgw.pid" s3py ls
	log "gateway up again in $((SECONDS - START_TS))s"
}

cmd_env() {
	healthy || die "not running (start it with $0 start)"
	cat "$STATE/env"
}

case "${1:-start}" in
start) cmd_start ;;
install) install_packages ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
gateway-kill) cmd_gateway_kill ;;
gateway-start) cmd_gateway_start ;;
-h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
*) die "unknown command '$1' (start|stop|status|env|install|gateway-kill|gateway-start)" ;;
esac
