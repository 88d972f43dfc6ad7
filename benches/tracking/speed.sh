#!/usr/bin/env bash
# Tracker speed on the quality test's input, edgeflow against supervision 0.30.9, in one run.
#
#   benches/tracking/speed.sh > benches/results/tracking.md
#
# The 20 inputs of stages/tests/tracking.rs (TUD-Campus and TUD-Stadtmitte, hard and mild,
# seeds 1..5; 2500 frames in all) are written by `edgeflow eval degrade` and joined into one
# frames file; `track-replay` (edgeflow's ByteTrack alone, people_count.toml's parameters,
# best of 5) and supervision_speed.py (sv.ByteTrack, best of 3) track it. Needs the venv
# reference.sh makes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
cargo build --release --locked --quiet -p edgeflow-benches --bin track-replay
cargo build --release --locked --quiet --bin edgeflow
venv=${EDGEFLOW_CACHE:-$HOME/.cache/edgeflow}/supervision-0.30.9
[ -x "$venv/bin/python" ] || { echo "run benches/tracking/reference.sh once first (it makes $venv)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for seq in TUD-Campus TUD-Stadtmitte; do
  for preset in hard mild; do
    for seed in 1 2 3 4 5; do
      target/release/edgeflow eval degrade --gt "../shared/fixtures/mot/$seq/gt.txt" \
        --preset "$preset" --seed "$seed" --frame-size 640,480 -o "$tmp/$seq-$preset-$seed.txt"
      last=$(sort -t, -k1,1n "../shared/fixtures/mot/$seq/gt.txt" | tail -1 | cut -d, -f1)
      python3 - "$tmp/$seq-$preset-$seed.txt" "$last" >> "$tmp/frames.jsonl" <<'PY'
import json, sys
frames = {}
for line in open(sys.argv[1]):
    v = line.split(",")
    x, y, w, h, c = map(float, v[2:7])
    frames.setdefault(int(v[0]), []).append([x, y, x + w, y + h, c])
for f in range(1, int(sys.argv[2]) + 1):
    print(json.dumps({"w": 640, "h": 480, "boxes": frames.get(f, [])}))
PY
    done
  done
done
ours=$(target/release/track-replay "$tmp/frames.jsonl" 5)
theirs=$("$venv/bin/python" "$here/supervision_speed.py" "$tmp/frames.jsonl")
python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("| tracker | frames | updates/s | ratio |")
print("|---|---|---|---|")
print(f"| edgeflow ByteTrack | {o['frames']} | {o['updates_per_s']:.0f} | {o['updates_per_s'] / t['updates_per_s']:.0f} × |")
print(f"| supervision 0.30.9 ByteTrack | {t['frames']} | {t['updates_per_s']:.0f} | 1 × |")
PY
