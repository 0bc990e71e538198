#!/usr/bin/env bash
# Install Debian's `chromium` (the browser the report's screenshot test drives headless), when
# /usr/bin/chromium is missing. Idempotent and quiet: an installed browser costs nothing.
#
#   scripts/install-chromium.sh
#
# Needs root (CI runs as root on a fresh Debian 12 machine); without root and without the
# browser it fails with a message, since the test then cannot run.
set -euo pipefail

CHROMIUM="${AHA_CHROMIUM:-/usr/bin/chromium}"
log() { echo "install-chromium: $*" >&2; }

if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    log "error: $CHROMIUM is missing and this is not root; run: sudo apt-get install -y chromium"
    exit 1
fi
log "installing Debian's chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# fonts-liberation (a Recommends): sans-serif text with proper metrics in the screenshots.
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
[ -x "$CHROMIUM" ] || { log "error: apt-get finished but $CHROMIUM is still missing"; exit 1; }
log "installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
