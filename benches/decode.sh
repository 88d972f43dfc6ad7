#!/usr/bin/env bash
# Decode throughput of edgeflow beside GStreamer's own decode-only limit, measured in one run
# on the same machine: the pedestrian clip (vtest.avi, MS-MPEG4 768x576) and a 1080p H.264
# file. Whole commands are timed (start-up included) for both; best of 3 runs.
#
#   benches/decode.sh            # writes benches/results/decode.md
#
# Columns: gst decode-only = `filesrc ! decodebin ! fakesink` (the limit); gst + RGB adds the
# conversion to RGB; edgeflow runs `capture(file) → publish(jsonl to /dev/null)` in I420 (no
# conversion) and in RGB. Ratios are against gst decode-only. Measured, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --quiet --locked
bin=target/release/edgeflow
mkdir -p assets/bench benches/results
[ -f assets/media/vtest.avi ] || { echo "assets/media/vtest.avi missing: run scripts/setup.sh" >&2; exit 1; }
if [ ! -f assets/bench/h264-1080p.mp4 ]; then
  echo "generating assets/bench/h264-1080p.mp4 (300 frames)..." >&2
  gst-launch-1.0 -q videotestsrc num-buffers=300 pattern=smpte ! \
    video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 ! \
    x264enc speed-preset=veryfast bitrate=8000 key-int-max=60 ! h264parse ! mp4mux ! \
    filesink location=assets/bench/h264-1080p.mp4
fi

best_of_3() { # command... → seconds (best of three)
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s.%N)
    best=$(python3 -c "t=$t1-$t0; b='$best'; print(t if not b else min(t, float(b)))")
  done
  echo "$best"
}

pipeline() { # path format → pipeline file
  local f
  f=$(mktemp --suffix=.toml)
  cat > "$f" <<TOML
[stages.cam]
type = "capture"
source = "file"
path = "$1"
format = "$2"
[stages.out]
type = "publish"
inputs = ["cam"]
sink = "jsonl"
path = "/dev/null"
TOML
  echo "$f"
}

out=benches/results/decode.md
{
  echo "# Decode throughput"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(gst-launch-1.0 --version | sed -n 2p)."
  echo "Measured by \`benches/decode.sh\` on $(date -u +%Y-%m-%d); best of 3, whole commands."
  echo
  echo "| clip | frames | gst decode-only (limit) | gst decode + RGB | edgeflow I420 | edgeflow RGB |"
  echo "|---|---|---|---|---|---|"
} > "$out"

for clip in assets/media/vtest.avi assets/bench/h264-1080p.mp4; do
  frames=$($bin run "$(pipeline "$clip" i420)" 2>&1 >/dev/null | sed -n 's/.*: \([0-9]*\) frames in.*/\1/p')
  g=$(best_of_3 gst-launch-1.0 -q filesrc location="$clip" ! decodebin ! fakesink sync=false)
  grgb=$(best_of_3 gst-launch-1.0 -q filesrc location="$clip" ! decodebin ! videoconvert ! video/x-raw,format=RGB ! fakesink sync=false)
  ei=$(best_of_3 $bin run "$(pipeline "$clip" i420)")
  er=$(best_of_3 $bin run "$(pipeline "$clip" rgb)")
  python3 - "$clip" "$frames" "$g" "$grgb" "$ei" "$er" >> "$out" <<'PY'
import sys
clip, n, g, grgb, ei, er = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:])
cell = lambda t: f"{n / t:.0f} fps ({g / t:.2f}×)"
print(f"| `{clip.split('/')[-1]}` | {n} | {n / g:.0f} fps (1.00×) | {cell(grgb)} | {cell(ei)} | {cell(er)} |")
PY
done
echo >> "$out"
echo "Ratios are throughput relative to gst decode-only (1.00× = as fast as GStreamer can decode)." >> "$out"
cat "$out"
