#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test (e2e/test/queue-board.test.ts) when it is absent.
# Nothing is downloaded at test time; where apt-get cannot install it, the test skips and says why.
command -v /usr/bin/chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || true
fi
command -v /usr/bin/chromium >/dev/null 2>&1 && echo "ok - chromium installed" || echo "chromium could not be installed: the browser test will skip"
exit 0
