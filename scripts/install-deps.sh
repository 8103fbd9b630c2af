#!/bin/bash
# Installs the Debian packages the test suite and the local cluster need, if missing.
# Idempotent; a no-op when everything is present. Needs root (apt-get).
# --bench: also the peers only `npm run bench` measures (wireguard-go, and wireguard-tools for `wg`).
set -euo pipefail
BENCH_PKGS=()
[ "${1:-}" = --bench ] && BENCH_PKGS=(wireguard-go wireguard-tools)
PKGS=(
  g++ make iproute2 procps iputils-ping tcpdump tshark iperf3 openssl python3 python3-scapy python3-cryptography nftables
  etcd-server etcd-client
  strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins strongswan-pki
  # libreswan's run-time libraries (the package itself conflicts with strongSwan: extracted below)
  libnss3-tools libldns3 libunbound8 libevent-core-2.1-7 libevent-pthreads-2.1-7 libcurl3-nss
  libcap-ng0 libaudit1 libldap-2.5-0 libpam0g dns-root-data bind9-host
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
bench_missing=()
for p in "${BENCH_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || bench_missing+=("$p")
done
# libreswan 4.10 (an IKE peer for interop tests) conflicts with strongSwan's packages, so it is
# unpacked into /opt/libreswan instead of installed; pluto execs /usr/libexec/ipsec/addconn.
# (OI_LIBRESWAN_ROOT and OI_IPSEC_LIBEXEC move both, for this script's own tests.)
LS_ROOT=${OI_LIBRESWAN_ROOT:-/opt/libreswan}
IPSEC_LIBEXEC=${OI_IPSEC_LIBEXEC:-/usr/libexec/ipsec}
need_ls=0
[ -x "$LS_ROOT/usr/libexec/ipsec/pluto" ] && [ -e "$IPSEC_LIBEXEC/addconn" ] || need_ls=1
[ ${#missing[@]} -eq 0 ] && [ ${#bench_missing[@]} -eq 0 ] && [ $need_ls = 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  what="${missing[*]} ${bench_missing[*]}"; what="${what% }"; what="${what# }"
  [ $need_ls = 1 ] && what="${what:+$what and }libreswan (unpacked into $LS_ROOT)"
  if [ ${#BENCH_PKGS[@]} -gt 0 ]; then
    echo "install-deps: the benchmarks need $what, not installed; run them as root, or first: sudo bash scripts/install-deps.sh --bench" >&2
  else
    echo "install-deps: the test suite needs $what, not installed; run the tests as root (they install them first), or: sudo bash scripts/install-deps.sh" >&2
  fi
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
# apt-get's own output (debconf's "delaying package configuration" among it) only when it fails,
# so a successful install is the one line that says what it installs.
quiet() {
  local err rc=0
  err=$(mktemp)
  "$@" >/dev/null 2>"$err" || rc=$?
  [ $rc = 0 ] || cat "$err" >&2
  rm -f "$err"
  return $rc
}
quiet apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing the Debian packages the test suite needs: ${missing[*]}" >&2
  # tshark asks whether non-root users may capture; answer once, non-interactively.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  quiet apt-get install -y -q "${missing[@]}"
fi
if [ ${#bench_missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${bench_missing[*]} for the bench's WireGuard rows" >&2
  # Without recommends: wireguard-tools recommends wireguard-dkms (a kernel module build), and
  # the bench measures the userspace implementation only.
  quiet apt-get install -y -q --no-install-recommends "${bench_missing[@]}"
fi
if [ $need_ls = 1 ]; then
  echo "install-deps: extracting libreswan into $LS_ROOT" >&2
  tmp=$(mktemp -d)
  chmod 777 "$tmp"   # apt downloads as user _apt
  (cd "$tmp" && quiet apt-get download -q libreswan)
  mkdir -p "$LS_ROOT"
  dpkg-deb -x "$tmp"/libreswan_*.deb "$LS_ROOT"
  rm -rf "$tmp"
  mkdir -p "$(dirname "$IPSEC_LIBEXEC")"
  [ -e "$IPSEC_LIBEXEC" ] || ln -s "$LS_ROOT/usr/libexec/ipsec" "$IPSEC_LIBEXEC"
fi
