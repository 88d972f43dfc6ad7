"""compare.py X86.jsonl ARM.jsonl: the aarch64 build's detections match the x86-64 build's.

Both files are `edgeflow run` output of the same pipeline on the same frames. Per frame: the
same number of boxes of each class, and each aarch64 box pairs with an x86-64 box of its class
at IoU >= 0.9 whose confidence differs by at most 0.02 (ONNX Runtime's kernels differ between
the two instruction sets, so the float results differ in their last bits, not in what is found).
"""

import json
import sys

MIN_IOU = 0.9
MAX_CONF_DIFF = 0.02


def frames(path):
    out = {}
    with open(path) as f:
        for line in f:
            e = json.loads(line)
            if e.get("kind") in ("detections", "tracks"):
                out[e["seq"]] = e["detections"] + (e.get("faces") or [])
    return out


def iou(a, b):
    ax2, ay2 = a["xmin"] + a["width"], a["ymin"] + a["height"]
    bx2, by2 = b["xmin"] + b["width"], b["ymin"] + b["height"]
    w = max(0.0, min(ax2, bx2) - max(a["xmin"], b["xmin"]))
    h = max(0.0, min(ay2, by2) - max(a["ymin"], b["ymin"]))
    inter = w * h
    union = a["width"] * a["height"] + b["width"] * b["height"] - inter
    return inter / union if union > 0 else 0.0


def main(x86_path, arm_path):
    x86, arm = frames(x86_path), frames(arm_path)
    if not x86:
        sys.exit(f"compare: no detections in {x86_path}")
    if sorted(x86) != sorted(arm):
        sys.exit(f"compare: frames differ: x86-64 {sorted(x86)}, aarch64 {sorted(arm)}")
    worst_iou, worst_conf, boxes = 1.0, 0.0, 0
    for seq in sorted(x86):
        want, got = x86[seq], list(arm[seq])
        if len(want) != len(got):
            sys.exit(f"compare: frame {seq}: x86-64 found {len(want)} boxes, aarch64 {len(got)}")
        for w in want:
            same = [g for g in got if g["class"] == w["class"]]
            best = max(same, key=lambda g: iou(w, g), default=None)
            if best is None or iou(w, best) < MIN_IOU:
                sys.exit(f"compare: frame {seq}: no aarch64 box matches x86-64's {w}")
            diff = abs(best["conf"] - w["conf"])
            if diff > MAX_CONF_DIFF:
                sys.exit(f"compare: frame {seq}: confidence {best['conf']} vs {w['conf']}")
            worst_iou, worst_conf = min(worst_iou, iou(w, best)), max(worst_conf, diff)
            got.remove(best)
            boxes += 1
    print(
        f"compare: {len(x86)} frames, {boxes} boxes: aarch64 matches x86-64 "
        f"(lowest IoU {worst_iou:.4f} >= {MIN_IOU}, largest confidence difference "
        f"{worst_conf:.4f} <= {MAX_CONF_DIFF})"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: compare.py X86.jsonl ARM.jsonl")
    main(*sys.argv[1:])
