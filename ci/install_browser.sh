#!/usr/bin/env bash
# The browser the web page's tests drive (tests/test_browser.py): Debian's chromium and chromium-driver,
# installed with apt-get when missing and when this runs as root. Never fails the run: where the browser
# cannot be installed, the browser tests skip and say why.
set -uo pipefail
# shellcheck source=ci/common.sh
source "$(dirname "$0")/common.sh"

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  say "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  say "SKIPPED: not root or no apt-get: no chromium, the browser tests will skip"
  exit 0
fi
say "installing chromium and chromium-driver (apt-get)"
export DEBIAN_FRONTEND=noninteractive
if timeout 600 apt-get update -qq && timeout 900 apt-get install -y -qq chromium chromium-driver >/dev/null; then
  say "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
else
  say "SKIPPED: apt-get could not install chromium: the browser tests will skip"
fi
exit 0
