"""The Python peer of benches/compare/run.sh: the same job as pipelines/people_count.toml,
built the way people build it today. OpenCV decode, letterbox + normalise in NumPy,
onnxruntime with the same model and threads, YOLO decoding and NMS, supervision's ByteTrack,
PolygonZone and LineZone, one JSON line per frame. Prints one JSON object with what it
measured. Modes:

  peer.py full VIDEO MODEL --threads N [--frames N] [--dump FILE]
  peer.py model-only VIDEO MODEL --threads N [--frames N]
  peer.py trackers DETECTIONS.jsonl [--rounds N]

`--dump` writes the detections of every frame (for the tracker-only comparison).
"""

import argparse
import json
import resource
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort

SIZE = 416
SCORE = 0.2  # pipelines/people_count.toml: score_threshold
NMS_IOU = 0.45
PERSON = 0


def letterbox(bgr):
    h, w = bgr.shape[:2]
    r = min(SIZE / w, SIZE / h)
    nw, nh = round(w * r), round(h * r)
    dx, dy = (SIZE - nw) // 2, (SIZE - nh) // 2
    canvas = np.full((SIZE, SIZE, 3), 128, np.uint8)
    canvas[dy:dy + nh, dx:dx + nw] = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    rgb = canvas[:, :, ::-1]
    x = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], dtype=np.float32) / np.float32(255.0)
    return x, r, dx, dy


def session(model, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    return ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])


def decode(out, r, dx, dy, w, h):
    """YOLOv3 [1, N, 85] rows (cx, cy, w, h, objectness, class scores) to person boxes."""
    rows = out[0]
    score = rows[:, 4] * rows[:, 5 + PERSON]
    keep = score >= SCORE
    rows, score = rows[keep], score[keep]
    if len(rows) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    cx, cy, bw, bh = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    xyxy = (xyxy - [dx, dy, dx, dy]) / r
    xyxy = np.clip(xyxy, 0, [w, h, w, h]).astype(np.float32)
    idx = cv2.dnn.NMSBoxes(
        [[float(a), float(b), float(c - a), float(d - b)] for a, b, c, d in xyxy],
        score.tolist(), SCORE, NMS_IOU)
    idx = np.array(idx, dtype=int).reshape(-1)
    return xyxy[idx], score[idx]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def quantile(v, q):
    if not v:
        return None
    v = sorted(v)
    return round(v[max(1, int(np.ceil(len(v) * q))) - 1] * 1e3, 3)


def full(a):
    import supervision as sv

    cap = cv2.VideoCapture(a.video)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    sess = session(a.model, a.threads)
    name = sess.get_inputs()[0].name
    tracker = sv.ByteTrack(track_activation_threshold=0.5, lost_track_buffer=20,
                           minimum_matching_threshold=0.8, frame_rate=10)
    zone = sv.PolygonZone(polygon=(np.array([[0.0, 0.3], [0.35, 0.3], [0.35, 1.0], [0.0, 1.0]])
                                   * [w, h]).astype(int))
    line = sv.LineZone(start=sv.Point(0.95 * w, 0.55 * h), end=sv.Point(0.05 * w, 0.55 * h))
    sink = open("/dev/null", "w")
    dump = open(a.dump, "w") if a.dump else None
    detect_times, n, t0 = [], 0, None
    warm = a.warmup
    while a.frames is None or n < a.frames + warm:
        ok, frame = cap.read()
        if not ok:
            break
        if n == warm:
            t0 = time.perf_counter()
        t = time.perf_counter()
        x, r, dx, dy = letterbox(frame)
        out = sess.run(None, {name: x})[0]
        xyxy, score = decode(out, r, dx, dy, w, h)
        if n >= warm:
            detect_times.append(time.perf_counter() - t)
        dets = sv.Detections(xyxy=xyxy, confidence=score, class_id=np.zeros(len(score), int))
        if dump:
            dump.write(json.dumps({"w": w, "h": h, "boxes": [
                [*map(float, b), float(s)] for b, s in zip(xyxy, score)]}) + "\n")
        tracked = tracker.update_with_detections(dets)
        inside = zone.trigger(tracked)
        crossed_in, crossed_out = line.trigger(tracked)
        sink.write(json.dumps({
            "seq": n, "persons": len(tracked), "in_zone": int(inside.sum()),
            "line_in": line.in_count, "line_out": line.out_count,
            "tracks": [int(i) for i in (tracked.tracker_id if tracked.tracker_id is not None else [])],
        }) + "\n")
        n += 1
    seconds = time.perf_counter() - (t0 or time.perf_counter())
    frames = max(0, n - warm)
    return {"mode": "full", "frames": frames, "seconds": seconds,
            "fps": frames / seconds if seconds > 0 else 0.0,
            "detect_ms": {"p50": quantile(detect_times, 0.5), "p95": quantile(detect_times, 0.95)},
            "line_in": line.in_count, "line_out": line.out_count, "peak_rss_mb": peak_rss_mb()}


def model_only(a):
    cap = cv2.VideoCapture(a.video)
    inputs = []
    while len(inputs) < 16:
        ok, frame = cap.read()
        if not ok:
            break
        inputs.append(letterbox(frame)[0])
    sess = session(a.model, a.threads)
    name = sess.get_inputs()[0].name
    for i in range(a.warmup):
        sess.run(None, {name: inputs[i % len(inputs)]})
    runs = a.frames or 300
    times = []
    t0 = time.perf_counter()
    for i in range(runs):
        t = time.perf_counter()
        sess.run(None, {name: inputs[i % len(inputs)]})
        times.append(time.perf_counter() - t)
    seconds = time.perf_counter() - t0
    return {"mode": "model-only", "frames": runs, "seconds": seconds, "fps": runs / seconds,
            "run_ms": {"p50": quantile(times, 0.5), "p95": quantile(times, 0.95)},
            "peak_rss_mb": peak_rss_mb()}


def trackers_only(a):
    """supervision's and roboflow trackers' ByteTrack over the same detections."""
    import supervision as sv
    import trackers

    frames = []
    for l in open(a.detections):
        d = json.loads(l)
        b = np.array(d["boxes"], np.float32).reshape(-1, 5)
        frames.append(sv.Detections(xyxy=b[:, :4], confidence=b[:, 4],
                                    class_id=np.zeros(len(b), int)))
    result = {"mode": "trackers", "frames": len(frames), "rounds": a.rounds}
    makers = {
        "supervision": lambda: (sv.ByteTrack(track_activation_threshold=0.5, lost_track_buffer=20,
                                             minimum_matching_threshold=0.8, frame_rate=10),
                                "update_with_detections"),
        "trackers": lambda: (trackers.ByteTrackTracker(lost_track_buffer=20, frame_rate=10.0,
                                                       track_activation_threshold=0.5,
                                                       high_conf_det_threshold=0.4), "update"),
    }
    for name, make in makers.items():
        best = None
        for _ in range(a.rounds):
            t, method = make()
            update = getattr(t, method)
            t0 = time.perf_counter()
            for d in frames:
                update(d)
            s = time.perf_counter() - t0
            best = s if best is None else min(best, s)
        result[name] = {"seconds": best, "updates_per_s": len(frames) / best}
    return result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["full", "model-only", "trackers"])
    p.add_argument("paths", nargs="+")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--dump")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if a.mode == "trackers":
        a.detections = a.paths[0]
        r = trackers_only(a)
    else:
        a.video, a.model = a.paths[0], a.paths[1]
        r = full(a) if a.mode == "full" else model_only(a)
    json.dump(r, sys.stdout)
    print()


if __name__ == "__main__":
    main()
