#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for building, testing and running edgeflow.
# Idempotent: run it again at any time; it says what it does and skips what is already there.
set -euo pipefail

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# System packages. Later stages (ONNX Runtime, brokers) add theirs to this list.
APT_PACKAGES=(
  build-essential pkg-config ca-certificates curl procps
  # GStreamer 1.22: capture, decode, the RTSP test server, and the test media encoders.
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools gstreamer1.0-rtsp
)

need_sudo() { if [ "$(id -u)" -ne 0 ]; then echo sudo; fi; }
SUDO=$(need_sudo)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  say "apt packages present: ${APT_PACKAGES[*]}"
fi

# The Rust toolchain: edgeflow needs Rust 1.95 with rustfmt and clippy.
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found. Install Rust 1.95 or newer (https://rustup.rs) and run this again." >&2
  exit 1
fi
rust_version=$(rustc --version | awk '{print $2}')
say "rust $rust_version"
if ! printf '%s\n%s\n' "1.95.0" "$rust_version" | sort -V -C; then
  echo "setup: edgeflow needs Rust 1.95 or newer, found $rust_version" >&2
  exit 1
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      say "adding rust component $component"
      rustup component add "$component"
    else
      echo "setup: cargo $component is missing and rustup is not available to add it" >&2
      exit 1
    fi
  fi
done

# Sample media, from Debian packages (never from a website), checked by checksum.
fetch_asset() { # name sha256 debian-package path-inside-package
  local name=$1 sum=$2 pkg=$3 inner=$4 dest=assets/media/$1
  if [ -f "$dest" ] && echo "$sum  $dest" | sha256sum -c --status; then
    say "asset $dest present"
    return
  fi
  say "fetching $name from the Debian package $pkg"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || {
    $SUDO apt-get update -qq
    (cd "$tmp" && apt-get download "$pkg" >/dev/null)
  }
  dpkg -x "$tmp"/"$pkg"_*.deb "$tmp/x"
  mkdir -p assets/media
  cp "$tmp/x/$inner" "$dest"
  rm -rf "$tmp"
  if ! echo "$sum  $dest" | sha256sum -c --status; then
    echo "setup: $dest does not match its checksum; the package changed: check it and update scripts/setup.sh" >&2
    exit 1
  fi
}
cd "$(dirname "$0")/.."
# The standard people-counting clip: 768x576, 10 fps, 795 frames, MS-MPEG4 v3.
fetch_asset vtest.avi 45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf \
  opencv-doc usr/share/doc/opencv-doc/examples/data/vtest.avi

# Crates: fetched once from crates.io, pinned by Cargo.lock.
say "fetching crates (cargo fetch --locked)"
cargo fetch --locked

say "done. Run the demo: cargo run --release -- run pipelines/demo.toml"
