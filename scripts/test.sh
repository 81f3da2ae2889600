#!/usr/bin/env bash
# Run the project's tests: `cargo test --workspace --locked`, with any extra
# arguments passed on to cargo test (e.g. scripts/test.sh -p arca-store).
#
# Integration tests talk to S3 through AWS_ENDPOINT_URL and friends (see
# scripts/s3-server.sh). If AWS_ENDPOINT_URL is not set, this script uses the
# local test S3 server: it reuses one that is already running, or starts one
# (installing its Debian packages if needed) and stops it again at the end.
#
# Environment:
#   ARCA_TEST_NO_S3=1  do not start an S3 server (S3 tests then skip)
#   ARCA_S3_KEEP=1     leave a server this script started running afterwards
#   ARCA_TEST_NO_DB=1  do not start the database servers of the blueprint
#                      tests (scripts/db-servers.sh; those tests then skip,
#                      or fail under CI=true)
#   ARCA_TEST_NO_BROWSER=1  do not set up the browser tests' Chromium and
#                      playwright-core (scripts/browser-setup.sh; those tests
#                      then skip, or fail under CI=true)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

started_s3=0
started_db=0
stop_servers() {
	if [ "$started_s3" = 1 ] && [ "${ARCA_S3_KEEP:-0}" != 1 ]; then
		scripts/s3-server.sh stop || true
	fi
	if [ "$started_db" = 1 ]; then
		scripts/db-servers.sh stop || true
	fi
}
trap stop_servers EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
	echo "test.sh: using S3 at $AWS_ENDPOINT_URL" >&2
elif [ "${ARCA_TEST_NO_S3:-0}" = 1 ]; then
	echo "test.sh: ARCA_TEST_NO_S3=1: no S3 server, S3 tests will skip" >&2
else
	if ! scripts/s3-server.sh status >/dev/null 2>&1; then
		started_s3=1
	fi
	# Prints the env (export lines) on stdout, progress on stderr.
	if ! s3_env=$(scripts/s3-server.sh start); then
		echo "test.sh: could not start the local S3 server (scripts/s3-server.sh);" \
			"set ARCA_TEST_NO_S3=1 to run without it" >&2
		exit 1
	fi
	eval "$s3_env"
	echo "test.sh: using S3 at $AWS_ENDPOINT_URL" >&2
fi

# The blueprint tests' PostgreSQL, MariaDB and Redis, unless given (CI starts
# them itself and exports their env) or switched off.
if [ -z "${ARCA_TEST_PGPORT:-}" ] && [ "${ARCA_TEST_NO_DB:-0}" != 1 ]; then
	if ! { [ -x /usr/lib/postgresql/15/bin/postgres ] && command -v mariadbd >/dev/null && command -v redis-server >/dev/null; }; then
		scripts/db-servers.sh install
	fi
	started_db=1
	if ! db_env=$(scripts/db-servers.sh start); then
		echo "test.sh: could not start the database servers (scripts/db-servers.sh);" \
			"set ARCA_TEST_NO_DB=1 to run without them" >&2
		exit 1
	fi
	eval "$db_env"
fi

# The browser tests' Chromium and playwright-core (Debian packages, npm ci
# in tests/browser), unless already there or switched off.
if [ "${ARCA_TEST_NO_BROWSER:-0}" != 1 ] && ! scripts/browser-setup.sh status; then
	if ! scripts/browser-setup.sh install; then
		echo "test.sh: could not set up the browser tests (scripts/browser-setup.sh);" \
			"set ARCA_TEST_NO_BROWSER=1 to run without them" >&2
		exit 1
	fi
fi

cargo test --workspace --locked "$@"
