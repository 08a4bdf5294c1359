#!/usr/bin/env bash
# Installs the Debian `janus` package (1.1.2 on Debian 12) when missing. Quiet and fast when present.
set -euo pipefail
if command -v janus >/dev/null 2>&1 && dpkg -s janus >/dev/null 2>&1; then exit 0; fi
echo "installing Debian package: janus" >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get install -y -q janus >/dev/null || { $SUDO apt-get update -q >/dev/null; $SUDO apt-get install -y -q janus >/dev/null; }
# The package may start a system-wide janus service (not under systemd-less containers); we never use it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet janus 2>/dev/null; then
  $SUDO systemctl disable --now janus >/dev/null 2>&1 || true
fi
