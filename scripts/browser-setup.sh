#!/usr/bin/env bash
# What the browser tests need: Debian's Chromium (and Node.js with npm, if
# the machine lacks them) from Debian packages, and the pinned playwright-core
# of tests/browser (npm ci from its package-lock.json). Playwright drives the
# system's /usr/bin/chromium; it never downloads a browser of its own. Run as
# root (apt-get). Idempotent: quick when everything is there.
#
#   scripts/browser-setup.sh [install]   install what is missing
#   scripts/browser-setup.sh status      exit 0 if the browser tests can run
#
# The tests (crates/arca-cli/tests/browser/mod.rs) skip with a message naming
# this script when something is missing, and fail instead under CI=true.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
BROWSER_DIR=$REPO_ROOT/tests/browser
CHROMIUM=/usr/bin/chromium

log() { printf 'browser-setup: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# node_modules is current when npm ci ran from the lock file as it is now.
modules_current() {
	[ -f "$BROWSER_DIR/node_modules/playwright-core/package.json" ] &&
		[ -f "$BROWSER_DIR/node_modules/.package-lock.json" ] &&
		[ ! "$BROWSER_DIR/package-lock.json" -nt "$BROWSER_DIR/node_modules/.package-lock.json" ]
}

install() {
	local missing=()
	[ -x "$CHROMIUM" ] || missing+=(chromium)
	# Text in screenshots needs a font; Chromium only recommends one.
	[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
	command -v node >/dev/null || missing+=(nodejs)
	command -v npm >/dev/null || missing+=(npm)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	fi
	if ! modules_current; then
		log "npm ci in tests/browser"
		(cd "$BROWSER_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
	fi
	status || die "still not usable after installing"
	log "ready: $("$CHROMIUM" --version 2>/dev/null), node $(node --version)," \
		"playwright-core $(node -p "require('$BROWSER_DIR/node_modules/playwright-core/package.json').version")"
}

status() {
	[ -x "$CHROMIUM" ] && command -v node >/dev/null && modules_current
}

case ${1:-install} in
install) install ;;
status) status ;;
*) die "usage: $0 install|status" ;;
esac
