#!/usr/bin/env bash
# cross/toolchain.sh: a Rust compiler that builds for aarch64, from Debian packages unpacked
# into the cache (never installed into the host): bookworm-security's rustc-web with the
# standard library for x86-64 (build scripts) and aarch64 (the binary). The project's cargo
# drives it (RUSTC). Prints the path of a `rustc` wrapper.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$CROSS_DIR/apt-arm64.sh"

T=$CACHE/rust-web-$(key_of "$RUST_WEB_VERSION")
if [ -x "$T/rustc" ] && [ -f "$T/.complete" ]; then
  say "rust toolchain present: $("$T/rustc" --version)"
  echo "$T/rustc"
  exit 0
fi
rm -rf "$T"
mkdir -p "$T/debs"
say "fetching rustc-web $RUST_WEB_VERSION (Debian) for cross builds"
(
  cd "$T/debs"
  apt-get download -qq -o APT::Sandbox::User=root "rustc-web=$RUST_WEB_VERSION" "libstd-rust-web-1.96=$RUST_WEB_VERSION" \
    "libstd-rust-web-dev=$RUST_WEB_VERSION" >/dev/null 2>&1 || {
    apt-get update -qq
    apt-get download -qq -o APT::Sandbox::User=root "rustc-web=$RUST_WEB_VERSION" "libstd-rust-web-1.96=$RUST_WEB_VERSION" \
      "libstd-rust-web-dev=$RUST_WEB_VERSION" >/dev/null
  }
  # rustc-web's LLVM, unless the host has it.
  if ! ldconfig -p | grep -q 'libLLVM.so.22'; then
    apt-get download -qq -o APT::Sandbox::User=root libllvm22 >/dev/null
  fi
)
for d in "$T"/debs/*.deb; do dpkg -x "$d" "$T/root"; done
apt_arm64_init
apt_arm64_unpack "$T/root" "libstd-rust-web-dev=$RUST_WEB_VERSION"
rm -rf "$T/debs"
[ -d "$T/root/usr/lib/rustlib/aarch64-unknown-linux-gnu/lib" ] ||
  die "the arm64 standard library is missing from libstd-rust-web-dev:arm64"
cat > "$T/rustc" <<EOF
#!/bin/sh
# rustc-web $RUST_WEB_VERSION, unpacked by cross/toolchain.sh.
LD_LIBRARY_PATH="$T/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$T/root/usr/bin/rustc" "\$@"
EOF
chmod +x "$T/rustc"
"$T/rustc" --version >/dev/null || die "the unpacked rustc does not run"
touch "$T/.complete"
find "$CACHE" -maxdepth 1 -name 'rust-web-*' ! -path "$T" -exec rm -rf {} +
say "rust toolchain ready: $("$T/rustc" --version)"
echo "$T/rustc"
