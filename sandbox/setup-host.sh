#!/usr/bin/env bash
# Installs the Debian 12 packages the tests' real parts need: podman (to build our images without
# a Docker engine or a registry), debootstrap (the python:3.11-slim base image), CNI plugins +
# iptables (the node's Pod network), libseccomp-dev + pkg-config (to build runc; the node's
# containerd 2 and runc are built from their Go modules, not Debian's), gcc (our static pause
# binary, and runc's cgo), chromium + chromium-driver (the webapp's page, in a headless browser),
# prometheus (its `prometheus` and `promtool` binaries: the alert rules' checks and a real scrape;
# the package's own service is disabled, the tests start their own servers on free ports).
# Idempotent: installs only what is missing; run as root (CI does, on a fresh machine).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-host.sh: must run as root (it installs Debian packages with apt-get); try: sudo $0" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
  echo "setup-host.sh: needs a Debian-based host (apt-get, dpkg-query); Debian 12 is tested" >&2
  exit 1
fi

packages=(
  podman                      # builds and runs our images (podman 4.3)
  conmon                      # podman's container monitor
  runc                        # podman's OCI runtime (crun fails here: cgroups in hybrid mode)
  containernetworking-plugins # CNI plugins in /usr/lib/cni, for podman and the node's containerd
  iptables                    # CNI bridge/portmap rules
  libseccomp-dev              # runc's seccomp support (RuntimeDefault profiles), built with cgo
  pkg-config                  # how runc's build finds libseccomp
  debootstrap                 # the Debian base image for `FROM python:3.11-slim`
  debian-archive-keyring      # lets debootstrap verify the mirror's signatures
  gpgv
  ca-certificates
  gcc                         # the static pause binary; runc's cgo
  libc6-dev
  chromium                    # the webapp's page in a real browser (headless, in the tests)
  chromium-driver             # chromedriver: the tests drive Chromium over W3C WebDriver
  prometheus                  # prometheus + promtool: deploy/prometheus/'s rules, a real scrape
)

# Debian's prometheus package enables (and, where services may start, starts) a server on :9090,
# the operator's default metrics port. The tests need only its binaries and start their own
# servers: stop the packaged one and disable it. Idempotent, also where it never ran (no
# systemd, or a policy-rc.d that denies starts, as in containers).
quiet_packaged_prometheus() {
  [ -e /lib/systemd/system/prometheus.service ] || return 0
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  else
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true # its pidfile's daemon only
    systemctl disable prometheus.service >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
}

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  quiet_packaged_prometheus
  echo "setup-host.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "setup-host.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# No recommends: podman's (buildah, fuse-overlayfs, slirp4netns, dbus-user-session, ...) are for
# rootless desktops; everything this node uses is listed above.
apt-get install -y -q --no-install-recommends "${missing[@]}"
quiet_packaged_prometheus
echo "setup-host.sh: done"
