#!/usr/bin/env bash
# Throwaway database servers for the blueprint tests: PostgreSQL, MariaDB and
# Redis from Debian packages, each on 127.0.0.1 with its own data directory
# and a port that does not collide with a system service. Run as root.
#
#   scripts/db-servers.sh install   install the Debian packages (servers and clients)
#   scripts/db-servers.sh start     start (or reuse) the servers, print `export` lines
#   scripts/db-servers.sh stop      stop them and delete their data
#   scripts/db-servers.sh env       print the env of running servers
#
# The env lines go to stdout and progress to stderr, so a caller can do
#   eval "$(scripts/db-servers.sh start)"
#
# Exported: ARCA_TEST_PGHOST, ARCA_TEST_PGPORT, ARCA_TEST_PGUSER,
# ARCA_TEST_PGPASSWORD; ARCA_TEST_MYSQL_HOST, ARCA_TEST_MYSQL_PORT,
# ARCA_TEST_MYSQL_PASSWORD (user root over TCP); ARCA_TEST_REDIS_HOST,
# ARCA_TEST_REDIS_PORT, ARCA_TEST_REDIS_PASSWORD. Fixed test passwords: the
# servers only ever listen on loopback.
#
# Environment:
#   ARCA_DB_STATE    state dir (default: <repo>/target/db-servers)
#   ARCA_DB_PGPORT / ARCA_DB_MYSQLPORT / ARCA_DB_REDISPORT
#                    ports (default 55432 / 53306 / 56379)
#   ARCA_DB_TIMEOUT  seconds to wait for each server to answer (default 60)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)

STATE=${ARCA_DB_STATE:-$REPO_ROOT/target/db-servers}
PGPORT_=${ARCA_DB_PGPORT:-55432}
MYPORT=${ARCA_DB_MYSQLPORT:-53306}
REDISPORT=${ARCA_DB_REDISPORT:-56379}
TIMEOUT=${ARCA_DB_TIMEOUT:-60}

PG_PASSWORD=arca-test-pg
MY_PASSWORD=arca-test-mysql
REDIS_PASSWORD=arca-test-redis
PG_BIN=/usr/lib/postgresql/15/bin

log() { printf 'db-servers: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

install() {
	local missing=()
	[ -x "$PG_BIN/postgres" ] || missing+=(postgresql-15)
	command -v psql >/dev/null || missing+=(postgresql-client-15)
	command -v mariadbd >/dev/null || missing+=(mariadb-server)
	command -v mariadb >/dev/null || missing+=(mariadb-client)
	command -v redis-server >/dev/null || missing+=(redis-server)
	command -v redis-cli >/dev/null || missing+=(redis-tools)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	fi
	# The packages start their system services; the tests run their own.
	for svc in postgresql mariadb redis-server; do
		if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
			systemctl stop "$svc" || true
		fi
	done
}

# wait_until WHAT COMMAND...: runs COMMAND every 0.2 s until it succeeds, at most TIMEOUT s.
wait_until() {
	local what=$1
	shift
	local deadline=$((SECONDS + TIMEOUT))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || die "$what did not answer within ${TIMEOUT}s (logs in $STATE)"
		sleep 0.2
	done
}

start_postgres() {
	local dir=$STATE/postgres
	mkdir -p "$dir"
	chown postgres:postgres "$dir"
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		printf '%s\n' "$PG_PASSWORD" >"$dir/pwfile"
		chown postgres:postgres "$dir/pwfile"
		runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" \
			--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
			die "initdb failed: $(tail -5 "$dir/initdb.log")"
		rm -f "$dir/pwfile"
	fi
	if ! runuser -u postgres -- "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT_"; then
		log "starting PostgreSQL on 127.0.0.1:$PGPORT_"
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t "$TIMEOUT" \
			-o "-c listen_addresses=127.0.0.1 -p $PGPORT_ -k $dir -c fsync=off" start >&2 ||
			die "PostgreSQL did not start: $(tail -5 "$dir/server.log")"
	fi
	wait_until PostgreSQL runuser -u postgres -- "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT_"
}

start_mariadb() {
	local dir=$STATE/mariadb
	mkdir -p "$dir"
	chown mysql:mysql "$dir" 2>/dev/null || true
	if [ ! -d "$dir/data/mysql" ]; then
		mariadb-install-db --user=mysql --datadir="$dir/data" --auth-root-authentication-method=socket \
			--skip-test-db >"$dir/install.log" 2>&1 || die "mariadb-install-db failed: $(tail -5 "$dir/install.log")"
	fi
	if ! mariadb --socket="$dir/sock" -uroot -e 'select 1' >/dev/null 2>&1; then
		log "starting MariaDB on 127.0.0.1:$MYPORT"
		mariadbd --user=mysql --datadir="$dir/data" --socket="$dir/sock" --pid-file="$dir/pid" \
			--bind-address=127.0.0.1 --port="$MYPORT" --skip-name-resolve --log-error="$dir/server.log" \
			--innodb-flush-log-at-trx-commit=0 --max-allowed-packet=256M >/dev/null 2>&1 &
	fi
	wait_until MariaDB mariadb --socket="$dir/sock" -uroot -e 'select 1'
	# root over TCP with a password (the socket keeps its own login).
	mariadb --socket="$dir/sock" -uroot -e "
		CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '$MY_PASSWORD';
		GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
	wait_until 'MariaDB over TCP' env MYSQL_PWD="$MY_PASSWORD" mariadb -h 127.0.0.1 -P "$MYPORT" -uroot -e 'select 1'
}

start_redis() {
	local dir=$STATE/redis
	mkdir -p "$dir"
	if ! REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDISPORT" ping 2>/dev/null | grep -q PONG; then
		log "starting Redis on 127.0.0.1:$REDISPORT"
		redis-server --bind 127.0.0.1 --port "$REDISPORT" --dir "$dir" --requirepass "$REDIS_PASSWORD" \
			--daemonize yes --pidfile "$dir/pid" --logfile "$dir/server.log" --save '' --appendonly no >&2
	fi
	wait_until Redis sh -c "REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p $REDISPORT ping | grep -q PONG"
}

print_env() {
	cat <<EOF
export ARCA_TEST_PGHOST=127.0.0.1
export ARCA_TEST_PGPORT=$PGPORT_
export ARCA_TEST_PGUSER=postgres
export ARCA_TEST_PGPASSWORD=$PG_PASSWORD
export ARCA_TEST_MYSQL_HOST=127.0.0.1
export ARCA_TEST_MYSQL_PORT=$MYPORT
export ARCA_TEST_MYSQL_PASSWORD=$MY_PASSWORD
export ARCA_TEST_REDIS_HOST=127.0.0.1
export ARCA_TEST_REDIS_PORT=$REDISPORT
export ARCA_TEST_REDIS_PASSWORD=$REDIS_PASSWORD
EOF
}

start() {
	[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL and MariaDB run as their own users)"
	mkdir -p "$STATE"
	start_postgres
	start_mariadb
	start_redis
	print_env | tee "$STATE/env"
}

stop() {
	if [ -f "$STATE/postgres/data/PG_VERSION" ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$STATE/postgres/data" -m fast -w -t "$TIMEOUT" stop >&2 2>/dev/null || true
	fi
	if [ -S "$STATE/mariadb/sock" ]; then
		mariadb-admin --socket="$STATE/mariadb/sock" -uroot shutdown 2>/dev/null || true
	fi
	if [ -f "$STATE/redis/pid" ]; then
		REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h 127.0.0.1 -p "$REDISPORT" shutdown nosave >/dev/null 2>&1 || true
	fi
	rm -rf "$STATE"
}

case ${1:-start} in
install) install ;;
start) start ;;
stop) stop ;;
env) cat "$STATE/env" ;;
*) die "usage: $0 install|start|stop|env" ;;
esac
