#!/usr/bin/env bash
# cross/sysroot.sh: an arm64 Debian 12 sysroot (headers and libraries to link against, and the
# GStreamer plugins the binary loads under qemu), unpacked from Debian packages into the cache.
# Prints its path. Kept while the package set and versions stay the same.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$CROSS_DIR/apt-arm64.sh"

apt_arm64_init
mapfile -t closure < <(apt_arm64_closure "${SYSROOT_PACKAGES[@]}")
[ ${#closure[@]} -gt 0 ] || die "apt found no arm64 packages for: ${SYSROOT_PACKAGES[*]}"
# One path for every version of the sysroot (the cargo flags name it, and a new path would
# rebuild every crate); what it holds is keyed by its package versions.
S=$CACHE/sysroot-arm64
KEY=$(key_of "${closure[@]}")
if [ -f "$S/.complete" ] && [ "$(cat "$S/.key" 2>/dev/null)" = "$KEY" ]; then
  say "arm64 sysroot present: $S (${#closure[@]} packages)"
  echo "$S"
  exit 0
fi
say "unpacking ${#closure[@]} arm64 packages into $S"
rm -rf "$S"
apt_arm64_unpack "$S" "${closure[@]}"

# dpkg -x runs no maintainer scripts: make what update-alternatives would have made.
L=$S/usr/lib/aarch64-linux-gnu
[ -e "$L/libblas.so.3" ] || ln -sf blas/libblas.so.3 "$L/libblas.so.3"
[ -e "$L/liblapack.so.3" ] || ln -sf lapack/liblapack.so.3 "$L/liblapack.so.3"
# Absolute symlinks inside the packages point at the host's / when linking: make them
# relative to the sysroot.
find "$S" -type l -lname '/*' | while read -r link; do
  target=$(readlink "$link")
  ln -sf "$S$target" "$link"
done
# ONNX Runtime reads /proc/cpuinfo; qemu-user passes the host's x86 one through, which ORT's
# CPU detection cannot parse (it crashes). qemu maps /proc/cpuinfo into the prefix: give it
# an aarch64 one (Neoverse-N1, one block per CPU).
mkdir -p "$S/proc"
for i in $(seq 0 $(($(nproc) - 1))); do
  printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' "$i"
done > "$S/proc/cpuinfo"
printf '%s\n' "${closure[@]}" > "$S/.packages"
echo "$KEY" > "$S/.key"
touch "$S/.complete"
# Sysroots of an earlier layout are no longer used.
find "$CACHE" -maxdepth 1 -name 'sysroot-arm64-*' -exec rm -rf {} +
say "arm64 sysroot ready: $S ($(du -sh "$S" | cut -f1))"
echo "$S"
