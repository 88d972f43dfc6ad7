"""Summarise one benches/compare/run.sh run (its scratch folder of JSON reports) as Markdown:
medians over the rounds, ratios against the limits measured in the same run."""

import json
import os
import statistics
import sys
from datetime import datetime, timezone

work, rounds, label, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
FRAMES_IN_CLIP = 795


def load(name):
    out = []
    for r in range(1, rounds + 1):
        p = os.path.join(work, f"{name}-{r}.json")
        if os.path.exists(p):
            out.append(json.load(open(p)))
    return out


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def stage(report, sid):
    return next((s for s in report.get("stages", []) if s["id"] == sid), None)


decode = load("decode")
model = load("model")
edge = load("edgeflow")
live = load("live")
pymodel = load("pymodel")
peer = load("peer")
machine = (model or edge)[0]["machine"]

decode_fps = med([FRAMES_IN_CLIP / d["seconds"] for d in decode])
model_fps = med([m["fps"] for m in model])
edge_fps = med([e["fps"] for e in edge])
pymodel_fps = med([m["fps"] for m in pymodel])
peer_fps = med([p["fps"] for p in peer])
edge_rss = med([e["peak_rss_mb"] for e in edge])
peer_rss = med([p["peak_rss_mb"] for p in peer])
det_sat = med([stage(e, "det")["process_ms"]["p50"] for e in edge])
det_live = med([stage(l, "det")["process_ms"]["p50"] for l in live])
model_run = med([m["model"]["run_ms"]["p50"] for m in model])
prepare = med([m["model"]["prepare_ms"]["p50"] for m in model])


def ratio(x, base):
    return f"{x / base:.2f} ×" if x and base else "-"


def f(x, fmt="{:.1f}"):
    return fmt.format(x) if x is not None else "-"


print(f"## Run `{label}`: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M')} UTC")
print()
print(f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['system']}, "
      f"{machine.get('gstreamer') or 'no GStreamer'}."
      + (" **Emulated: not speed figures.**" if machine.get("emulated") else ""))
print(f"YOLOv3-tiny 416 (`{os.path.basename('assets/models/yolov3-tiny-416.onnx')}`), ONNX Runtime 1.31.1, "
      f"{threads} intra-op threads everywhere; medians of {rounds} alternating rounds.")
print()
print("| run | fps | × model limit | peak RSS |")
print("|---|---|---|---|")
print(f"| decode limit (GStreamer decode-only, whole command) | {f(decode_fps, '{:.0f}')} | - | - |")
print(f"| **model limit** (`edgeflow bench --model-only`) | {f(model_fps)} | 1.00 × | - |")
print(f"| model only, Python (onnxruntime `run`) | {f(pymodel_fps)} | {ratio(pymodel_fps, model_fps)} | - |")
print(f"| **edgeflow** `people_count.toml` (file → detect → track → zone → jsonl) | {f(edge_fps)} | {ratio(edge_fps, model_fps)} | {f(edge_rss)} MB |")
print(f"| Python peer (OpenCV + onnxruntime + supervision) | {f(peer_fps)} | {ratio(peer_fps, model_fps)} | {f(peer_rss)} MB |")
print()
print(f"Detect stage per frame (p50): {f(det_sat, '{:.2f}')} ms saturated, {f(det_live, '{:.2f}')} ms "
      f"at the clip's 10 fps ({ratio(det_live, det_sat)} the saturated time); the model's run alone "
      f"{f(model_run, '{:.2f}')} ms; preparing a frame {f(prepare, '{:.2f}')} ms.")
print()
if edge:
    e = edge[len(edge) // 2]
    print("edgeflow, per stage (the median round's report):")
    print()
    print("| stage | p50 ms | p99 ms | queue wait p50 ms | CPU ms per frame |")
    print("|---|---|---|---|---|")
    for s in e["stages"]:
        cpu = s["cpu_s"] * 1e3 / e["frames"] if s.get("cpu_s") is not None and e["frames"] else None
        w = s["queue_wait_ms"]["p50"]
        print(f"| {s['id']} | {f(s['process_ms']['p50'], '{:.2f}')} | {f(s['process_ms']['p99'], '{:.2f}')} | "
              f"{f(w, '{:.2f}')} | {f(cpu, '{:.2f}')} |")
    others = ", ".join(f"{t['name']}{' ×' + str(t['threads']) if t['threads'] > 1 else ''} "
                       f"{t['cpu_s'] * 1e3 / e['frames']:.2f}" for t in e["threads"]
                       if not t["name"].startswith("ef-") and t["cpu_s"] > 0.01)
    print()
    print(f"Other threads, CPU ms per frame: {others}.")
    print()
te = json.load(open(os.path.join(work, "track-edgeflow.json")))
tp = json.load(open(os.path.join(work, "track-python.json")))
print(f"The tracker alone on the peer's detections ({te['frames']} frames, best of 3): "
      f"edgeflow {te['updates_per_s']:.0f} updates/s, supervision {tp['supervision']['updates_per_s']:.0f} "
      f"(edgeflow {te['updates_per_s'] / tp['supervision']['updates_per_s']:.0f} × as many), roboflow trackers "
      f"{tp['trackers']['updates_per_s']:.0f} ({te['updates_per_s'] / tp['trackers']['updates_per_s']:.0f} × as many).")
