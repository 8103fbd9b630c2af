#!/bin/bash
# Installs the Debian packages the test suite and the local cluster need, if missing.
# Idempotent; a no-op when everything is present. Needs root (apt-get).
set -euo pipefail
PKGS=(
  iproute2 iputils-ping tcpdump tshark iperf3 openssl python3 python3-scapy
  strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins strongswan-pki
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
  exit 2
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once, non-interactively.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
