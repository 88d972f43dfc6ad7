#!/usr/bin/env bash
# supervision's ByteTrack on the tracker quality test's input: the figures recorded in
# stages/tests/tracking.rs (SUPERVISION) come from this script, run once.
#
#   benches/tracking/reference.sh [EDGEFLOW_BINARY]
#
# For TUD-Campus and TUD-Stadtmitte (../shared/fixtures/mot), presets hard and mild, seeds
# 1..5: `edgeflow eval degrade` writes det.txt (640×480), supervision 0.30.9 tracks it at
# 25 fps (supervision_track.py), and `edgeflow eval mot` scores it. Prints one Rust tuple per
# run: (sequence, preset, seed, MOTA, IDF1). Needs network for pip once (a venv in
# $EDGEFLOW_CACHE or ~/.cache/edgeflow).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/target/release/edgeflow}
[ -x "$bin" ] || { echo "build edgeflow first: cargo build --release" >&2; exit 1; }
cache=${EDGEFLOW_CACHE:-$HOME/.cache/edgeflow}
venv=$cache/supervision-0.30.9
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q supervision==0.30.9
fi
"$venv/bin/python" -c 'import supervision; assert supervision.__version__ == "0.30.9", supervision.__version__'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for seq in TUD-Campus TUD-Stadtmitte; do
  gt=$root/../shared/fixtures/mot/$seq/gt.txt
  for preset in hard mild; do
    for seed in 1 2 3 4 5; do
      "$bin" eval degrade --gt "$gt" --preset "$preset" --seed "$seed" --frame-size 640,480 -o "$tmp/det.txt"
      "$venv/bin/python" "$here/supervision_track.py" "$tmp/det.txt" 25 > "$tmp/pred.txt"
      "$bin" eval mot --gt "$gt" --pred "$tmp/pred.txt" --json > "$tmp/m.json"
      python3 -c "
import json; m = json.load(open('$tmp/m.json'))
print(f'(\"$seq\", \"$preset\", $seed, {m[\"mota\"]:.4f}, {m[\"idf1\"]:.4f}),')"
    done
  done
done
