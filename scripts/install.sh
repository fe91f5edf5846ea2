#!/usr/bin/env bash
# Installs netwatch and what it needs on Debian 12: `scripts/install.sh` for running it,
# `scripts/install.sh --test` also for the test suite (real peers: snmpd, sshd, prometheus, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME_DEBS=(fping iproute2 fonts-dejavu-core)
TEST_DEBS=(snmpd snmp openssh-server openssh-client prometheus prometheus-alertmanager
           prometheus-snmp-exporter prometheus-blackbox-exporter nftables chromium chromium-driver
           poppler-utils dovecot-imapd postgresql)
# postgresql: tests start a private cluster (tests/peers/postgres.py); never the system one.

debs=("${RUNTIME_DEBS[@]}")
extras=""
if [ "${1:-}" = "--test" ]; then
  debs+=("${TEST_DEBS[@]}")
  extras="[test]"
fi

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  # policy-rc.d keeps Debian from starting the system snmpd/sshd/prometheus: tests run their own.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  for svc in snmpd prometheus prometheus-alertmanager prometheus-node-exporter dovecot ssh postgresql; do
    $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

# Debian's own python3 is "externally managed" (PEP 668): install into .venv there instead.
PY=python3
if python3 -c 'import sys, sysconfig, os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) and sys.prefix == sys.base_prefix else 1)'; then
  if [ ! -x .venv/bin/python ]; then
    dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "install ok installed" || {
      SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
      $SUDO apt-get install -y -q --no-install-recommends python3-venv; }
    python3 -m venv .venv
  fi
  PY=.venv/bin/python
fi
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore -e ".${extras}"
echo "$PY" > .netwatch-python
