"""supervision 0.30.9's ByteTrack updates per second on a frames file (benches/tracking/speed.sh).

    python supervision_speed.py FRAMES.jsonl

FRAMES.jsonl: one JSON object per frame, `w`, `h`, `boxes` as [x1, y1, x2, y2, score] in
pixels (what `track-replay` reads). Detections are built before the clock starts; the best
of three rounds, each with a new tracker, is printed as JSON.
"""

import sys
import json, time, warnings
warnings.filterwarnings("ignore")
import numpy as np, supervision as sv
frames=[json.loads(l) for l in open(sys.argv[1])]
dets=[]
for f in frames:
    a=np.asarray(f['boxes'],dtype=np.float32).reshape(-1,5)
    dets.append(sv.Detections(xyxy=a[:,:4],confidence=a[:,4],class_id=np.zeros(len(a),dtype=int)) if len(a) else sv.Detections.empty())
best=1e9
for r in range(3):
    t=sv.ByteTrack(frame_rate=25); s=time.perf_counter()
    for d in dets: t.update_with_detections(d)
    best=min(best,time.perf_counter()-s)
print(json.dumps({"mode": "supervision-bytetrack", "frames":len(dets),"seconds":best,"updates_per_s":len(dets)/best}))
