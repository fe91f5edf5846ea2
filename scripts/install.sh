#!/usr/bin/env bash
# Installs netwatch and what it needs on Debian 12: `scripts/install.sh` for running it,
# `scripts/install.sh --test` also for the test suite (real peers: snmpd, sshd, prometheus, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

# gcc, libc6-dev, python3-dev: `pip install` builds the C loops of the ICMP engine (netwatch/net/_echo.c) and
# of the SNMP column walk (netwatch/net/snmp/_ber.c); without them the Python code runs instead, at more CPU.
RUNTIME_DEBS=(fping iproute2 fonts-dejavu-core fonts-dejavu-extra gcc libc6-dev python3-dev)
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

# netwatch always goes into its own virtual environment, .venv in this checkout, whatever python3
# is (Debian's, pyenv's, another distribution's): installing into a global interpreter would
# repoint whatever else was installed there.
# NETWATCH_VENV_OPTIONS / NETWATCH_PIP_OPTIONS pass extra options (e.g. an offline install:
# "--system-site-packages" and "--no-index --no-build-isolation"); NETWATCH_BIN_DIR chooses where
# the `netwatch` command goes (default /usr/local/bin as root, ~/.local/bin otherwise).
if [ ! -x .venv/bin/python ]; then
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    # Debian splits the venv module (and ensurepip) into python3-venv.
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "Installing Debian package: python3-venv"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv
  fi
  # shellcheck disable=SC2086
  python3 -m venv ${NETWATCH_VENV_OPTIONS:-} .venv
fi
PY="$PWD/.venv/bin/python"
# shellcheck disable=SC2086
"$PY" -m pip install -q --disable-pip-version-check --root-user-action=ignore ${NETWATCH_PIP_OPTIONS:-} -e ".${extras}"
echo "$PY" > .netwatch-python
if ! "$PY" -c 'import netwatch.net._echo, netwatch.net.snmp._ber' >/dev/null 2>&1; then
  echo "note: netwatch's C loops were not built (no C compiler or Python headers for $("$PY" -V 2>&1));" \
       "icmp checks and SNMP walks run on the Python code instead, at ~3x and ~7x the CPU"
fi

if [ -n "${NETWATCH_BIN_DIR:-}" ]; then
  BIN="$NETWATCH_BIN_DIR"
elif [ "$(id -u)" -eq 0 ]; then
  BIN=/usr/local/bin
else
  BIN="$HOME/.local/bin"
fi
mkdir -p "$BIN"
ln -sfn "$PWD/.venv/bin/netwatch" "$BIN/netwatch"
echo "netwatch is installed in $PWD/.venv; the command: $BIN/netwatch -> $PWD/.venv/bin/netwatch"
case ":$PATH:" in
  *":$BIN:"*) ;;
  *) echo "note: $BIN is not on your PATH: add it (e.g. export PATH=\"$BIN:\$PATH\") or run $BIN/netwatch" ;;
esac
