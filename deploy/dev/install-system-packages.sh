#!/usr/bin/env bash
# Install the Debian packages Sinfonia's tests talk to: etcd, Prometheus,
# node-exporter, Redis, WireGuard (userspace), iproute2 and openssl, and what
# the e2e tier with real pods runs (containerd, runc, CNI plugins, busybox-static
# for its images, ipset and iptables for kube-proxy). Packages already present
# are left alone, so a warm machine spends no time here.
set -euo pipefail

packages=(
  etcd-server etcd-client
  prometheus prometheus-node-exporter
  redis-server
  wireguard-tools wireguard-go
  iproute2 iputils-ping openssl curl procps
  containerd runc containernetworking-plugins busybox-static ipset iptables
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages (${missing[*]}); run this script as root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt_options=(-o DPkg::Lock::Timeout=600 -y -qq --no-install-recommends)
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get "${apt_options[@]}" install "${missing[@]}" >/dev/null
# Debian's packages start their daemons where an init system runs; the tests
# start their own instances on loopback ports, so stop any that came up.
for service in redis-server prometheus prometheus-node-exporter etcd containerd; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done
echo "installed: ${missing[*]}"
