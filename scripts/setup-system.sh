#!/usr/bin/env bash
# Installs the system packages a GPU-less Debian/Ubuntu machine needs to run fovea: a Vulkan
# loader and Mesa's lavapipe new enough for Dawn (Debian bookworm: from backports). With
# --test it also installs what the tests use: Debian's Chromium (browser tests), PyTorch
# (python3-torch, the numerical oracle), torchvision (python3-torchvision, augmentation's) and
# PIL (python3-pil, which writes and decodes the JPEG tests' files). Idempotent: skips what is present.
#   bash scripts/setup-system.sh          # to run fovea (uses sudo unless run as root)
#   bash scripts/setup-system.sh --test   # to run its tests too
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# lavapipe's ICD manifest is named lvp_icd.*.json; Mesa < 23 is rejected by Dawn.
mesa_ok() {
  have_pkg mesa-vulkan-drivers || return 1
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)
  dpkg --compare-versions "$v" ge 23
}

need_apt_update=1
apt_update() {
  if [ "$need_apt_update" = 1 ]; then $SUDO apt-get update -qq; need_apt_update=0; fi
}

. /etc/os-release
if ! mesa_ok || ! have_pkg libvulkan1; then
  if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
    # Bookworm's Mesa 22.3 lacks features Dawn requires; backports carries Mesa 25.
    src=/etc/apt/sources.list.d/backports.sources
    if [ ! -f "$src" ]; then
      uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
      [ -n "$uri" ] || uri=http://deb.debian.org/debian
      printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$VERSION_CODENAME" | $SUDO tee "$src" >/dev/null
    fi
    apt_update
    $SUDO apt-get install -y -qq -t "$VERSION_CODENAME-backports" mesa-vulkan-drivers libvulkan1
  else
    apt_update
    $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1
  fi
fi

if [ "${1:-}" = --test ]; then
  missing=()
  for p in chromium python3-torch python3-torchvision python3-pil; do have_pkg "$p" || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_update
    $SUDO apt-get install -y -qq "${missing[@]}"
  fi
fi

echo "system packages ready: $(dpkg-query -W -f='mesa-vulkan-drivers ${Version}' mesa-vulkan-drivers)"

