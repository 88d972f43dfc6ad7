#!/usr/bin/env bash
# cross/ci.sh: the cross-build job of the test command. Builds the generic-aarch64 profile,
# runs it under qemu-aarch64 (list-backends, a test-pattern pipeline, and pipelines/people.toml
# itself on its first 3 frames), checks its detections against the x86-64 build's on the same
# frames, runs the rknn and hailo backends' tests under qemu against their fake vendor
# libraries, then builds every other board profile and checks the backends each lists.
#
# Needs scripts/setup.sh (cross linker, qemu, the aarch64 ONNX Runtime) and the x86-64 debug
# binary (`cargo build`); caches what it downloads and builds in $EDGEFLOW_CROSS_CACHE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

FRAMES=3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
t0=$(date +%s)
elapsed() { echo "$(($(date +%s) - t0)) s"; }

# expect FILE TEXT...: every TEXT is in FILE, or the job fails showing the file.
expect() {
  local f=$1
  shift
  for want in "$@"; do
    if ! grep -qF -- "$want" "$f"; then
      sed 's/^/  | /' "$f" >&2
      die "expected \`$want\` in the output above"
    fi
  done
}

# The scripts' own errors first (they cost nothing).
say "the cross scripts' errors"
fails_with() { # TEXT COMMAND...: COMMAND fails and says TEXT
  local text=$1
  shift
  if "$@" > "$WORK/err.txt" 2>&1; then die "\`$*\` succeeded"; fi
  expect "$WORK/err.txt" "$text"
}
fails_with "usage: cross/build.sh PROFILE" "$CROSS_DIR/build.sh"
fails_with "no profile \`jetson\`; profiles: generic-aarch64 jetson-orin" "$CROSS_DIR/build.sh" jetson
expect "$WORK/err.txt" rpi5-hailo rk3588 x86-cpu
mkdir -p "$WORK/profiles"
sed 's/^gstreamer_api = .*/gstreamer_api = "1.18"/' "$CROSS_DIR/profiles/generic-aarch64.toml" > "$WORK/profiles/old.toml"
grep -v '^glibc' "$CROSS_DIR/profiles/generic-aarch64.toml" > "$WORK/profiles/noglibc.toml"
EDGEFLOW_CROSS_PROFILES=$WORK/profiles fails_with 'gstreamer_api = "1.18" (this build knows 1.20 and 1.22)' \
  "$CROSS_DIR/build.sh" old
EDGEFLOW_CROSS_PROFILES=$WORK/profiles fails_with "has no \`glibc\`" "$CROSS_DIR/build.sh" noglibc
fails_with "qemu.sh PROFILE" "$CROSS_DIR/qemu.sh"
fails_with "is not an aarch64 profile" "$CROSS_DIR/qemu.sh" x86-cpu
X86=${EDGEFLOW_X86_BIN:-target/debug/edgeflow}
[ -x "$X86" ] || cargo build --locked --quiet
fails_with "needs glibc 2." bash -c ". '$CROSS_DIR/lib.sh'; check_glibc objdump '$X86' 2.17"

"$CROSS_DIR/build.sh" generic-aarch64
file target/cross/generic-aarch64/edgeflow | grep -q 'ARM aarch64' ||
  die "target/cross/generic-aarch64/edgeflow is not an aarch64 binary"

say "under qemu: list-backends ($(elapsed))"
"$CROSS_DIR/qemu.sh" generic-aarch64 list-backends > "$WORK/backends.txt" 2>&1
expect "$WORK/backends.txt" "profile generic-aarch64, aarch64-linux, GStreamer API 1.22" \
  "assets/ort/aarch64/libonnxruntime.so.1.31.1"
grep -E '^ort +yes' "$WORK/backends.txt" >/dev/null || {
  cat "$WORK/backends.txt" >&2
  die "ONNX Runtime does not load in the aarch64 build"
}

say "under qemu: a test-pattern pipeline ($(elapsed))"
"$CROSS_DIR/qemu.sh" generic-aarch64 run pipelines/demo.toml --frames 30 > "$WORK/demo.jsonl" 2> "$WORK/demo.err"
expect "$WORK/demo.err" "30 frames" "end of stream"
[ "$(wc -l < "$WORK/demo.jsonl")" -ge 30 ] || die "the demo pipeline wrote $(wc -l < "$WORK/demo.jsonl") lines"

# `edgeflow bench` runs under qemu and says that its figures are no speed figures there.
say "under qemu: edgeflow bench says it is emulated ($(elapsed))"
"$CROSS_DIR/qemu.sh" generic-aarch64 bench pipelines/demo.toml --frames 20 --warmup 5 \
  > /dev/null 2> "$WORK/bench.err" || { cat "$WORK/bench.err" >&2; die "bench failed under qemu"; }
grep -q "EMULATED" "$WORK/bench.err" || { cat "$WORK/bench.err" >&2; die "bench under qemu does not say it is emulated"; }

say "under qemu: pipelines/people.toml on its first $FRAMES frames ($(elapsed))"
"$CROSS_DIR/qemu.sh" generic-aarch64 run pipelines/people.toml --frames $FRAMES \
  > "$WORK/arm.jsonl" 2> "$WORK/arm.err" || { cat "$WORK/arm.err" >&2; die "people.toml failed under qemu"; }
"$X86" run pipelines/people.toml --frames $FRAMES > "$WORK/x86.jsonl" 2> "$WORK/x86.err"
python3 "$CROSS_DIR/compare.py" "$WORK/x86.jsonl" "$WORK/arm.jsonl"

# The vendor backends' tests under qemu, against their fake libraries built for aarch64.
say "under qemu: the rknn and hailo backends against their fake vendor libraries ($(elapsed))"
"$CROSS_DIR/backend-tests.sh" rknn hailo

# The board profiles: each builds with its accelerator's backend, lists it (not ready under
# qemu: no vendor library, no device, each saying which), and `auto` falls back to the CPU.
for profile in jetson-orin rpi5-hailo rk3588; do
  say "profile $profile ($(elapsed))"
  "$CROSS_DIR/build.sh" "$profile"
  "$CROSS_DIR/qemu.sh" "$profile" list-backends > "$WORK/$profile.txt" 2>&1
  api=$(profile_get "$profile" gstreamer_api)
  accel=$(profile_get "$profile" accelerator)
  case "$accel" in
    tensorrt) why="has neither the TensorRT nor the CUDA provider" ;;
    hailo) why="cannot load HailoRT (libhailort.so); tried:" ;;
    rknn) why="cannot load the RKNN runtime (librknnrt.so); tried:" ;;
  esac
  expect "$WORK/$profile.txt" "profile $profile, aarch64-linux, GStreamer API $api" "$why" \
    "auto: chose \`ort\` (the CPU"
  grep -E "^$accel +no " "$WORK/$profile.txt" >/dev/null || {
    cat "$WORK/$profile.txt" >&2
    die "$profile's binary does not list its $accel backend as built in"
  }
  for other in tensorrt hailo rknn; do
    [ "$other" = "$accel" ] && continue
    grep -E "^$other +- +not compiled" "$WORK/$profile.txt" >/dev/null ||
      die "$profile's binary has the $other backend, which its profile leaves out"
  done
done
say "cross job passed in $(elapsed)"
