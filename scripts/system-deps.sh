#!/usr/bin/env bash
# Debian packages the test suite drives for real: HAProxy (spread tests), MariaDB (web app),
# Chromium + ChromeDriver (browser test), stress-ng (stress role), cloud-init and shellcheck
# (user data validation), wrk and hey (benchmarks), nginx, rsync, curl; buildah and debootstrap
# (the image role builds the ECS image without a Docker daemon, its base from Debian packages) and
# docker-registry (the data plane's stand-in for ECR's registry).
# Installs only what is missing; needs root (or sudo).
#   scripts/system-deps.sh            # everything the tests use
#   scripts/system-deps.sh dataplane  # only what the local data plane runs (make demo, make scale):
#                                     # HAProxy as the ALB, MariaDB as RDS, stress-ng in instances
set -euo pipefail

PACKAGES=(haproxy nginx stress-ng mariadb-server chromium chromium-driver cloud-init shellcheck wrk hey rsync curl
  buildah debootstrap docker-registry)
if [[ ${1:-} == dataplane ]]; then
  PACKAGES=(haproxy mariadb-server stress-ng curl buildah debootstrap docker-registry)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system packages present: ${PACKAGES[*]}"
  exit 0
fi
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO=sudo
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
