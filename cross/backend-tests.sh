#!/usr/bin/env bash
# cross/backend-tests.sh BACKEND...: build a vendor backend's tests and its fake vendor
# library (backends/BACKEND/fake) for aarch64, and run the tests under qemu-aarch64 against
# that library: the FFI path (struct layouts, calls, quantization) as an aarch64 board runs it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: cross/backend-tests.sh BACKEND... (rknn, hailo)" >&2; exit 2; }
TARGET=aarch64-unknown-linux-gnu
aarch64_env
cd "$ROOT"
for backend in "$@"; do
  case "$backend" in
    rknn) fake=edgeflow-fake-rknnrt env_name=EDGEFLOW_FAKE_RKNNRT ;;
    hailo) fake=edgeflow-fake-hailort env_name=EDGEFLOW_FAKE_HAILORT ;;
    *) die "no vendor backend \`$backend\` with a fake library (rknn, hailo)" ;;
  esac
  say "building $fake and edgeflow-backend-$backend's tests for $TARGET"
  cargo build --locked --quiet -p "$fake" --target "$TARGET"
  lib=$CARGO_TARGET_DIR/$TARGET/debug/lib${fake//-/_}.so
  file "$lib" | grep -q 'ARM aarch64' || die "$lib is not an aarch64 library"
  mapfile -t tests < <(cargo test --locked --quiet -p "edgeflow-backend-$backend" --target "$TARGET" \
    --no-run --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])')
  [ ${#tests[@]} -gt 0 ] || die "no test binaries for edgeflow-backend-$backend"
  for t in "${tests[@]}"; do
    say "under qemu: $(basename "$t")"
    log=$(mktemp)
    if ! env "$env_name=$lib" QEMU_LD_PREFIX="$S" QEMU_CPU="${QEMU_CPU:-neoverse-n1}" \
      qemu-aarch64-static "$t" --test-threads 2 > "$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      die "$(basename "$t") failed under qemu"
    fi
    grep '^test result' "$log" >&2
    rm -f "$log"
  done
done
