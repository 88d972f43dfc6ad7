"""Track MOTChallenge detections with supervision's ByteTrack and print MOTChallenge rows.

    python supervision_track.py det.txt FPS > pred.txt

The peer of edgeflow's tracker in stages/tests/tracking.rs (see benches/tracking/reference.sh):
supervision's `ByteTrack` with its defaults but `frame_rate`, fed every frame from 1 to the
last one in det.txt (frames without rows as empty detections), reporting what
`update_with_detections` returns (the matched detections' boxes and tracker ids).
"""

import sys
import warnings
from collections import defaultdict

import numpy as np

warnings.filterwarnings("ignore")  # supervision warns that OpenCV is absent; NumPy serves
import supervision as sv  # noqa: E402


def main() -> None:
    path, fps = sys.argv[1], float(sys.argv[2])
    frames = defaultdict(list)
    last = 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            v = line.split(",")
            frame = int(float(v[0]))
            x, y, w, h, score = (float(t) for t in v[2:7])
            frames[frame].append((x, y, x + w, y + h, score))
            last = max(last, frame)
    tracker = sv.ByteTrack(frame_rate=fps)
    out = sys.stdout
    for frame in range(1, last + 1):
        rows = frames.get(frame, [])
        if rows:
            a = np.asarray(rows, dtype=np.float32)
            dets = sv.Detections(
                xyxy=a[:, :4], confidence=a[:, 4], class_id=np.zeros(len(a), dtype=int)
            )
        else:
            dets = sv.Detections.empty()
        tracked = tracker.update_with_detections(dets)
        for (x1, y1, x2, y2), tid in zip(tracked.xyxy, tracked.tracker_id):
            out.write(f"{frame},{tid},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,-1,-1,-1\n")


if __name__ == "__main__":
    main()
