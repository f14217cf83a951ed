#!/usr/bin/env bash
# Installs everything coursectl and its tests need on a fresh Debian machine (run as root):
# Debian packages for the real components, a virtualenv in .venv, and the Python packages.
# Idempotent: a second run installs nothing new. Sourced by scripts/main.sh and scripts/test.sh.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${COURSECTL_VENV:-$REPO/.venv}"

APT_PACKAGES=(
  ca-certificates git python3 python3-venv python3-pip
  docker.io docker-registry apache2-utils debootstrap   # engine, registry with htpasswd auth, base image
  haproxy prometheus                                    # the edge and metrics
  prometheus-alertmanager prometheus-blackbox-exporter prometheus-node-exporter   # alerts, uptime probes, host metrics
  mariadb-server mariadb-client redis-server rabbitmq-server   # the platform's data services
  chromium                                              # the HTML report and the storefront in headless Chromium
  nginx-light                                           # serves the storefront in its tests (as in its image)
)
# The pipelines' Groovy is linted with npm-groovy-lint, which runs CodeNarc on Java (and needs Node.js >= 20).
# Machines that already have them (from another source) keep theirs.
command -v java >/dev/null 2>&1 || APT_PACKAGES+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 4
  fi
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  # Packages must not start their daemons: coursectl and the tests start their own, on loopback only.
  policy_created=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy_created=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=900 update -qq
  apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$policy_created" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# Node.js and npm build and test the storefront (platform-services/storefront). The machine's own Node.js is
# used when it is there; otherwise Debian's. Vite 7 needs Node.js ^20.19 or >= 22.12.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: Node.js and npm are missing and installing them needs root (apt-get install nodejs npm)" >&2
    exit 4
  fi
  echo "setup: installing Debian packages: nodejs npm" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit((a === 20 && b >= 19) || (a === 22 && b >= 12) || a > 22 ? 0 : 1)'; then
  echo "setup: the storefront needs Node.js ^20.19 or >= 22.12; this machine has $(node --version)" >&2
  exit 4
fi
STOREFRONT="$REPO/platform-services/storefront"
if [ -f "$STOREFRONT/package-lock.json" ]; then
  lock_sum="$(sha256sum "$STOREFRONT/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$STOREFRONT/node_modules/.coursectl-installed" ] \
     || [ "$(cat "$STOREFRONT/node_modules/.coursectl-installed")" != "$lock_sum" ]; then
    echo "setup: installing the storefront's npm packages (npm ci)" >&2
    (cd "$STOREFRONT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$lock_sum" > "$STOREFRONT/node_modules/.coursectl-installed"
  fi
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating virtualenv $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.coursectl-installed"
reqs=("$REPO/pyproject.toml")
[ -f "$REPO/platform-services/requirements-dev.txt" ] && reqs+=("$REPO/platform-services/requirements-dev.txt")
# the platform's packages are installed editable: a change to one's packaging (a new module) reinstalls them
for f in "$REPO"/platform-services/*/pyproject.toml; do [ -f "$f" ] && reqs+=("$f"); done
wanted="$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "setup: installing Python packages into $VENV" >&2
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e "$REPO[test,sbom]"
  if [ -f "$REPO/platform-services/requirements-dev.txt" ]; then
    (cd "$REPO" && "$VENV/bin/pip" install -q -r platform-services/requirements-dev.txt)
  fi
  echo "$wanted" > "$stamp"
fi
# npm-groovy-lint (and the Groovy it bundles) into pipelines/node_modules, exactly as the lock file says
if [ -f "$REPO/pipelines/package-lock.json" ]; then
  npm_stamp="$REPO/pipelines/node_modules/.coursectl-installed"
  npm_wanted="$(cat "$REPO/pipelines/package.json" "$REPO/pipelines/package-lock.json" | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_wanted" ]; then
    echo "setup: installing npm packages into pipelines/node_modules" >&2
    (cd "$REPO/pipelines" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$npm_wanted" > "$npm_stamp"
  fi
fi
export PATH="$VENV/bin:$PATH"
