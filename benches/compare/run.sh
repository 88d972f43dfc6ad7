#!/usr/bin/env bash
# edgeflow beside its limits and a Python peer, in one run on this machine: the pedestrian clip
# (assets/media/vtest.avi), YOLOv3-tiny 416, the same ONNX Runtime release and thread count
# everywhere.
#
#   benches/compare/run.sh [--label NAME] [--rounds N] [--threads N] [--smoke]
#
# Each round runs, one after the other (timings swing on shared machines, so the runs
# alternate and the figures are medians over the rounds):
#   decode limit    GStreamer decode-only (`filesrc ! decodebin ! fakesink`), the whole command
#   model limit     `edgeflow bench --model-only`: the detect stage's model alone
#   edgeflow        `edgeflow bench pipelines/people_count.toml` (file → detect → track → zone → jsonl)
#   edgeflow live   the same at the clip's own 10 fps (`realtime = true`): detect time per frame
#   python model    onnxruntime `run` alone on frames prepared beforehand (benches/compare/peer.py)
#   python peer     OpenCV decode + onnxruntime + supervision ByteTrack, PolygonZone, LineZone
# and once: the tracker alone on the peer's detections, edgeflow's ByteTrack against
# supervision's and roboflow `trackers`'.
#
# Writes benches/results/compare-NAME.md (default NAME: latest) and assembles
# benches/RESULTS.md from benches/compare/HEAD.md and every compare-*.md. `--smoke` (CI) runs
# a few frames once and writes into a temporary folder instead: it checks that the harness
# works, never a figure. The Python peer's venv (assets/bench-venv) comes from the pinned
# benches/compare/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."

LABEL=latest ROUNDS=3 THREADS=2 SMOKE=0
while [ $# -gt 0 ]; do
  case $1 in
    --label) LABEL=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    -h|--help) sed -n 2,25p "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
say() { printf '\033[1mcompare:\033[0m %s\n' "$*" >&2; }

CLIP=assets/media/vtest.avi
MODEL=assets/models/yolov3-tiny-416.onnx
[ -f "$CLIP" ] && [ -f "$MODEL" ] || { echo "run.sh: $CLIP or $MODEL missing: run scripts/setup.sh" >&2; exit 1; }

FRAMES_ARG=() MODEL_RUNS=300 LIVE_FRAMES=100 PY_FRAMES=()
if [ "$SMOKE" = 1 ]; then
  ROUNDS=1 FRAMES_ARG=(--frames 20) MODEL_RUNS=10 LIVE_FRAMES=10 PY_FRAMES=(--frames 20)
fi

# The smoke run checks the harness, not speed: the debug binaries the tests built will do.
PROFILE=(--release) DIR=release
if [ "$SMOKE" = 1 ]; then PROFILE=() DIR=debug; fi
say "building edgeflow ($DIR)"
cargo build "${PROFILE[@]}" --locked --quiet --bin edgeflow
cargo build "${PROFILE[@]}" --locked --quiet -p edgeflow-benches --bin track-replay
BIN=target/$DIR/edgeflow

VENV=assets/bench-venv
if ! "$VENV/bin/python" -c "import cv2, onnxruntime, supervision, trackers" 2>/dev/null; then
  say "creating $VENV from benches/compare/requirements.txt (pinned PyPI versions)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -r benches/compare/requirements.txt
  "$VENV/bin/pip" install --quiet --no-deps trackers==2.6.1
fi
PY=$VENV/bin/python

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The shipped pipeline with the thread count set (and, for the live run, paced at 10 fps);
variant() { # out-file realtime(0/1)
  python3 - pipelines/people_count.toml "$1" "$2" "$THREADS" <<'PY'
import sys
src, out, realtime, threads = sys.argv[1:5]
lines = []
for line in open(src):
    lines.append(line)
    if line.strip() == "[stages.det]":
        lines.append(f"ort = {{ intra_threads = {threads}, inter_threads = 1 }}\n")
    if line.strip() == "[stages.cam]" and realtime == "1":
        lines.append("realtime = true\n")
open(out, "w").writelines(lines)
PY
}
variant "$WORK/saturated.toml" 0
variant "$WORK/live.toml" 1
# Relative paths in the pipeline are relative to the working directory: run from the checkout.

timed() { # out-json command... → {"seconds": wall} of the whole command
  local t0 t1
  t0=$(date +%s.%N)
  "${@:2}" >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 -c "import json,sys; json.dump({'seconds': $t1 - $t0}, open(sys.argv[1], 'w'))" "$1"
}

for r in $(seq 1 "$ROUNDS"); do
  say "round $r of $ROUNDS: decode limit"
  timed "$WORK/decode-$r.json" gst-launch-1.0 -q filesrc location="$CLIP" ! decodebin ! fakesink sync=false
  say "round $r: model limit (edgeflow bench --model-only)"
  $BIN bench "$WORK/saturated.toml" --model-only --frames "$MODEL_RUNS" --json "$WORK/model-$r.json" 2>/dev/null
  say "round $r: edgeflow pipeline"
  $BIN bench "$WORK/saturated.toml" "${FRAMES_ARG[@]}" --json "$WORK/edgeflow-$r.json" >/dev/null 2>"$WORK/edgeflow-$r.txt"
  say "round $r: python model limit"
  $PY benches/compare/peer.py model-only "$CLIP" "$MODEL" --threads "$THREADS" --frames "$MODEL_RUNS" > "$WORK/pymodel-$r.json"
  say "round $r: python peer"
  dump=()
  [ "$r" = 1 ] && dump=(--dump "$WORK/detections.jsonl")
  $PY benches/compare/peer.py full "$CLIP" "$MODEL" --threads "$THREADS" "${PY_FRAMES[@]}" "${dump[@]}" > "$WORK/peer-$r.json"
  say "round $r: edgeflow live (10 fps, $LIVE_FRAMES frames)"
  $BIN bench "$WORK/live.toml" --frames "$LIVE_FRAMES" --json "$WORK/live-$r.json" >/dev/null 2>&1
done
say "the tracker alone on the peer's detections"
target/$DIR/track-replay "$WORK/detections.jsonl" 3 > "$WORK/track-edgeflow.json"
$PY benches/compare/peer.py trackers "$WORK/detections.jsonl" --rounds 3 > "$WORK/track-python.json"

if [ "$SMOKE" = 1 ]; then
  OUT=$WORK/compare-smoke.md
else
  OUT=benches/results/compare-$LABEL.md
fi
mkdir -p "$(dirname "$OUT")"
python3 benches/compare/summarise.py "$WORK" "$ROUNDS" "$LABEL" "$THREADS" > "$OUT"
cat "$OUT"
if [ "$SMOKE" = 0 ]; then
  { cat benches/compare/HEAD.md
    for f in benches/results/compare-before.md benches/results/compare-after.md; do
      [ -f "$f" ] && { echo; cat "$f"; }
    done
    for f in benches/results/compare-*.md; do
      case $f in *-before.md|*-after.md) ;; *) echo; cat "$f" ;; esac
    done
  } > benches/RESULTS.md
  say "wrote $OUT and benches/RESULTS.md"
fi
