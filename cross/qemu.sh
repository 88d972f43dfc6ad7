#!/usr/bin/env bash
# cross/qemu.sh PROFILE [ARGS...]: run the profile's aarch64 binary (cross/build.sh PROFILE)
# on this x86-64 machine under qemu-user, with the arm64 sysroot as its root for libraries,
# GStreamer plugins and the aarch64 ONNX Runtime (assets/ort/aarch64/, from scripts/setup.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: cross/qemu.sh PROFILE [edgeflow ARGS...]" >&2; exit 2; }
PROFILE=$1
shift
[ "$(profile_get "$PROFILE" target)" = aarch64-unknown-linux-gnu ] ||
  die "profile $PROFILE is not an aarch64 profile"
BIN=$ROOT/target/cross/$PROFILE/edgeflow
[ -x "$BIN" ] || die "no $BIN: run cross/build.sh $PROFILE first"
if ! command -v qemu-aarch64-static >/dev/null; then
  say "installing qemu-user-static"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
fi
S=$("$CROSS_DIR/sysroot.sh" 2>/dev/null)
export QEMU_LD_PREFIX=$S
export QEMU_CPU=${QEMU_CPU:-neoverse-n1}
# GStreamer's plugin scanner is a separate (arm64) program qemu-user cannot start as a child:
# scan in the process, into a registry of its own.
export GST_REGISTRY_FORK=no
export GST_REGISTRY=$CACHE/gst-registry-arm64.bin
export GST_PLUGIN_SYSTEM_PATH_1_0=$S/usr/lib/aarch64-linux-gnu/gstreamer-1.0
unset GST_PLUGIN_PATH GST_PLUGIN_PATH_1_0
exec qemu-aarch64-static "$BIN" "$@"
