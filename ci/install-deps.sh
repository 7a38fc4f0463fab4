#!/usr/bin/env bash
# Installs the Debian packages kubestall's tests use, only those missing.
# Safe to run repeatedly; needs root (or sudo) only when something is missing.
set -euo pipefail

# package -> a command it provides (to tell whether it is there)
declare -A PACKAGES=(
  [procps]=pgrep
  [curl]=curl
  [debootstrap]=debootstrap   # the node-twin image (container tests)
  [docker.io]=dockerd         # the container backend's engine
  [kubernetes-client]=kubectl # the runbook's own commands against node twins
  [grep]=grep
  [libxml2-utils]=xmllint     # JUnit output is validated against ci/junit.xsd
  [chromium]=chromium         # the HTML report is checked in a real headless browser
  [busybox-static]=busybox    # rootfs of the containers the shim-safety test starts
  [openssh-server]=sshd       # the SSH form of remediation plans runs against a real sshd
)

missing=()
for pkg in "${!PACKAGES[@]}"; do
  command -v "${PACKAGES[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all present"
  exit 0
fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt (a concurrent install) rather than failing on its lock.
APT=(apt-get -o DPkg::Lock::Timeout=300 -y -q)
$SUDO "${APT[@]}" install "${missing[@]}" || {
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q
  $SUDO "${APT[@]}" install "${missing[@]}"
}
