#!/usr/bin/env bash
# cross/build.sh PROFILE: a stripped release binary of edgeflow for a board profile
# (cross/profiles/PROFILE.toml), in target/cross/PROFILE/edgeflow. For aarch64 profiles it
# installs the cross linker (Debian's gcc-aarch64-linux-gnu), unpacks a Rust toolchain and an
# arm64 sysroot into the cache (cross/toolchain.sh, cross/sysroot.sh), and checks that the
# binary needs no newer glibc than the board has.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() {
  echo "usage: cross/build.sh PROFILE    (profiles: $(profile_names))" >&2
  exit 2
}
[ $# -eq 1 ] || usage
PROFILE=$1
profile_file "$PROFILE" >/dev/null
TARGET=$(profile_get "$PROFILE" target)
FEATURES=$(profile_get "$PROFILE" features)
API=$(profile_get "$PROFILE" gstreamer_api)
GLIBC=$(profile_get "$PROFILE" glibc)
ACCEL=$(profile_get "$PROFILE" accelerator)
DECODERS=$(profile_get "$PROFILE" decoders)

# The GStreamer API level: for 1.20 the crates stay at their base API (older than 1.20, which
# the code needs no more than); 1.22 turns on their `v1_22` API.
case "$API" in
  1.20) ;;
  1.22) FEATURES="$FEATURES gstreamer-1-22" ;;
  *) die "profile $PROFILE: gstreamer_api = \"$API\" (this build knows 1.20 and 1.22)" ;;
esac
FEATURES=$(echo "$FEATURES" | tr ' ' ',')

# What the binary says about itself (`edgeflow list-backends`) and prefers (`decoder = "auto"`).
export EDGEFLOW_PROFILE=$PROFILE EDGEFLOW_ACCELERATOR=$ACCEL EDGEFLOW_GSTREAMER_API=$API
export EDGEFLOW_DECODERS=${DECODERS// /,}
OUT=$ROOT/target/cross/$PROFILE
mkdir -p "$OUT"
cargo_args=(build --release --locked -p edgeflow --no-default-features --features "$FEATURES")

host=$(rustc -vV | awk '/^host:/{print $2}')
if [ "$TARGET" = "$host" ]; then
  say "building $PROFILE ($TARGET, features $FEATURES) with the host toolchain"
  (cd "$ROOT" && cargo "${cargo_args[@]}")
  BIN=$ROOT/target/release/edgeflow
  STRIP=strip
  OBJDUMP=objdump
else
  [ "$TARGET" = aarch64-unknown-linux-gnu ] || die "profile $PROFILE: no cross setup for $TARGET"
  aarch64_env
  say "building $PROFILE ($TARGET, features $FEATURES) with $("$RUSTC" --version | cut -d' ' -f1-2) against $S"
  (cd "$ROOT" && cargo "${cargo_args[@]}" --target "$TARGET")
  BIN=$CARGO_TARGET_DIR/$TARGET/release/edgeflow
  STRIP=aarch64-linux-gnu-strip
  OBJDUMP=aarch64-linux-gnu-objdump
fi

"$STRIP" -o "$OUT/edgeflow" "$BIN"
# The newest glibc symbol version the binary needs must not be newer than the board's.
need=$(check_glibc "$OBJDUMP" "$OUT/edgeflow" "$GLIBC")
size=$(du -h "$OUT/edgeflow" | cut -f1)
say "built $OUT/edgeflow ($size, $TARGET, needs glibc $need <= $GLIBC, GStreamer API $API)"
if [ "$ACCEL" != none ]; then
  say "the $ACCEL backend is built in; \`backend = \"auto\"\` takes it where its library and device are, else ONNX Runtime on the CPU"
fi
