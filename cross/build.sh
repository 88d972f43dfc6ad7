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
  if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
    say "installing the cross compilers (gcc-aarch64-linux-gnu, g++-aarch64-linux-gnu)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu >/dev/null
  fi
  RUSTC_CROSS=$("$CROSS_DIR/toolchain.sh")
  S=$("$CROSS_DIR/sysroot.sh")
  # One target folder for every aarch64 profile (features differ, dependencies are shared),
  # kept in the cache so a fresh clone does not build them again.
  export CARGO_TARGET_DIR=$CACHE/target-aarch64-$(key_of "$RUST_WEB_VERSION")
  export RUSTC=$RUSTC_CROSS
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
  export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=$S"
  export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
  export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
  export CFLAGS_aarch64_unknown_linux_gnu="--sysroot=$S"
  export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_SYSROOT_DIR=$S
  export PKG_CONFIG_LIBDIR=$S/usr/lib/aarch64-linux-gnu/pkgconfig:$S/usr/share/pkgconfig
  # librdkafka's own configure and make read the plain variables; host build scripts keep
  # the host compiler (cc-rs reads HOST_* before the plain ones).
  # (its C++ binding, librdkafka++, is built too).
  export CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++
  export AR=aarch64-linux-gnu-ar RANLIB=aarch64-linux-gnu-ranlib
  export CFLAGS="--sysroot=$S" CXXFLAGS="--sysroot=$S" LDFLAGS="--sysroot=$S"
  export HOST_CC=cc HOST_CXX=c++ HOST_AR=ar HOST_CFLAGS="-O2" HOST_CXXFLAGS="-O2"
  # openssl-sys (librdkafka's TLS) from the sysroot.
  export AARCH64_UNKNOWN_LINUX_GNU_OPENSSL_LIB_DIR=$S/usr/lib/aarch64-linux-gnu
  export AARCH64_UNKNOWN_LINUX_GNU_OPENSSL_INCLUDE_DIR=$S/usr/include
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
  say "note: the $ACCEL backend is not in edgeflow yet; this binary detects on the CPU (ONNX Runtime)"
fi
