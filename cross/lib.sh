# Shared by the cross/ scripts: profiles, the cache folder, messages. Source it; do not run it.
# shellcheck shell=bash

CROSS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$CROSS_DIR/.." && pwd)
# Everything downloaded or built for cross builds lives here, outside the checkout, so a fresh
# clone (CI's) reuses it; each entry is keyed by what it was made from.
CACHE=${EDGEFLOW_CROSS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeflow-cross}

say() { printf '\033[1mcross:\033[0m %s\n' "$*" >&2; }
die() { printf 'cross: %s\n' "$*" >&2; exit 1; }

# The profiles' folder (another one only for the scripts' own checks in cross/ci.sh).
PROFILES=${EDGEFLOW_CROSS_PROFILES:-$CROSS_DIR/profiles}

# profile_names: every profile, space-separated.
profile_names() { (cd "$PROFILES" && ls ./*.toml | sed 's|^\./||; s|\.toml$||' | tr '\n' ' '); }

# profile_file NAME: the profile's file, or an error listing the profiles.
profile_file() {
  local f=$PROFILES/$1.toml
  [ -f "$f" ] || die "no profile \`$1\`; profiles: $(profile_names)"
  echo "$f"
}

# profile_get NAME KEY: one value of a profile (lists come out space-separated).
profile_get() {
  python3 - "$(profile_file "$1")" "$2" <<'PY'
import sys, tomllib
path, key = sys.argv[1:3]
with open(path, "rb") as f:
    p = tomllib.load(f)
if key not in p:
    sys.exit(f"cross: profile {path} has no `{key}`")
v = p[key]
print(" ".join(v) if isinstance(v, list) else v)
PY
}

# check_glibc OBJDUMP BIN GLIBC: BIN needs no glibc symbol version newer than GLIBC; prints
# the newest it needs.
check_glibc() {
  local need
  need=$("$1" -T "$2" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if ! printf '%s\n%s\n' "$need" "$3" | sort -V -C; then
    die "$2 needs glibc $need, but the profile's board has $3: build against an older sysroot"
  fi
  echo "$need"
}

# key_of WORDS...: a short hash of its arguments, for cache folder names.
key_of() { printf '%s\n' "$@" | sha256sum | cut -c1-12; }

# The aarch64 packages a sysroot holds: headers and libraries to link against (-dev), and
# what the binary loads at run time under qemu (GStreamer plugins for the clip).
SYSROOT_PACKAGES=(
  libc6-dev libgcc-12-dev libstdc++-12-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  libssl-dev zlib1g-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-libav
)

# The Debian Rust toolchain that cross-builds for aarch64 (the rustup toolchain here has only
# the x86-64 standard library): bookworm-security's rustc-web, with the standard library for
# both architectures.
RUST_WEB_VERSION=1.96.0+dfsg1-1~deb12u2

# aarch64_env: the environment for cargo to build aarch64 code here (sets S to the sysroot,
# CARGO_TARGET_DIR to the shared aarch64 target folder in the cache, RUSTC to the cross
# toolchain); installs the cross compilers first if they are missing.
aarch64_env() {
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
}
