#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser test (Playwright drives it; it never downloads a
# browser of its own). Does nothing when /usr/bin/chromium is there; installing needs root.
set -euo pipefail
[[ -x /usr/bin/chromium ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
    echo "install_chromium: /usr/bin/chromium is missing; run as root: apt-get install -y chromium" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
