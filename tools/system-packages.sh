#!/usr/bin/env bash
# Install the Debian packages GovAssure needs, when run as root; otherwise print the exact command.
#   tools/system-packages.sh          what running the app needs (CJK fonts, PDF rendering)
#   tools/system-packages.sh --test   plus what the test suite needs (Chromium, PostgreSQL, Redis)
set -euo pipefail
PKGS=(fonts-noto-cjk fontconfig libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils)
if [[ ${1:-} == --test ]]; then
  PKGS+=(chromium chromium-driver postgresql redis-server)
fi
python3 -c 'import ensurepip' 2>/dev/null || PKGS+=(python3-venv)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "Missing Debian packages. As root, run:" >&2
  echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" >/tmp/govassure-apt.log 2>&1 \
  || { tail -30 /tmp/govassure-apt.log; exit 1; }
