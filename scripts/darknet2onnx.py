#!/usr/bin/env python3
"""Convert a Darknet YOLOv3-tiny style model (cfg + weights) to ONNX, with the YOLO heads decoded
inside the graph.

Output: one tensor `output` of shape [1, N, 5 + classes]: cx, cy, w, h in input pixels,
objectness (sigmoid), class probabilities (sigmoid). Input: `images`, float32 [1, 3, H, W], RGB
0..1 (letterboxed with 0.5 grey, Darknet's convention).

Facts the conversion depends on:
- weights file: major, minor, revision (int32), then `seen` (int64 when major*10+minor >= 2,
  else int32); then per convolutional layer: [bn beta, gamma, mean, var] or [bias], weights.
- batch norm folded as Darknet computes it: (x - mean) / (sqrt(var) + 1e-6) * gamma + beta.
- a stride-1 maxpool of size 2 pads at the end only.
- yolov3-tiny's cfg says mask=0,1,2 for the 26x26 head, but the official weights were trained
  with mask=1,2,3 (pjreddie/darknet#851): `--tiny-mask-fix` (on by default) uses 1,2,3.

Usage: darknet2onnx.py CFG WEIGHTS OUT.onnx [--fp16-weights] [--dynamic-batch] [--no-tiny-mask-fix]
"""
import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def parse_cfg(path):
    sections = []
    for raw in open(path, encoding="utf-8"):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append({"type": line.strip("[]").strip()})
        else:
            key, value = line.split("=", 1)
            sections[-1][key.strip()] = value.strip()
    if not sections or sections[0]["type"] not in ("net", "network"):
        sys.exit(f"{path}: not a Darknet cfg (no [net] section first)")
    return sections[0], sections[1:]


class Weights:
    def __init__(self, path):
        with open(path, "rb") as f:
            major, minor, _rev = np.fromfile(f, dtype=np.int32, count=3)
            seen_type = np.int64 if major * 10 + minor >= 2 else np.int32
            np.fromfile(f, dtype=seen_type, count=1)
            self.data = np.fromfile(f, dtype=np.float32)
        self.pos = 0

    def take(self, n):
        if self.pos + n > self.data.size:
            sys.exit("the weights file is shorter than the cfg needs: wrong cfg for these weights?")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cfg")
    ap.add_argument("weights")
    ap.add_argument("out")
    ap.add_argument("--fp16-weights", action="store_true", help="round weights to float16 precision")
    ap.add_argument("--no-tiny-mask-fix", action="store_true", help="keep the cfg's masks as written")
    ap.add_argument("--dynamic-batch", action="store_true", help="leave the batch dimension open (batched inference)")
    args = ap.parse_args()

    net, layers = parse_cfg(args.cfg)
    width, height, channels = int(net["width"]), int(net["height"]), int(net.get("channels", 3))
    w = Weights(args.weights)
    nodes, inits = [], []
    outputs_of = []  # per layer: (tensor name, channels, h, w)
    heads = []
    cur = ("images", channels, height, width)

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def maybe16(a):
        return a.astype(np.float16).astype(np.float32) if args.fp16_weights else a

    yolo_layers = [i for i, l in enumerate(layers) if l["type"] == "yolo"]
    for i, layer in enumerate(layers):
        t = layer["type"]
        name = f"l{i}"
        if t == "convolutional":
            n = int(layer["filters"])
            k = int(layer["size"])
            s = int(layer["stride"])
            pad = k // 2 if int(layer.get("pad", 0)) else 0
            c = cur[1]
            if int(layer.get("batch_normalize", 0)):
                beta, gamma, mean, var = (w.take(n) for _ in range(4))
                kern = w.take(n * c * k * k).reshape(n, c, k, k)
                scale = gamma / (np.sqrt(var) + 1e-6)
                kern = kern * scale[:, None, None, None]
                bias = beta - mean * scale
            else:
                bias = w.take(n)
                kern = w.take(n * c * k * k).reshape(n, c, k, k)
            const(f"{name}_w", maybe16(kern.astype(np.float32)))
            const(f"{name}_b", maybe16(bias.astype(np.float32)))
            out = f"{name}_conv"
            nodes.append(helper.make_node("Conv", [cur[0], f"{name}_w", f"{name}_b"], [out],
                                          kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4))
            act = layer.get("activation", "linear")
            if act == "leaky":
                nodes.append(helper.make_node("LeakyRelu", [out], [f"{name}_act"], alpha=0.1))
                out = f"{name}_act"
            elif act != "linear":
                sys.exit(f"layer {i}: activation {act} is not supported")
            oh = (cur[2] + 2 * pad - k) // s + 1
            ow = (cur[3] + 2 * pad - k) // s + 1
            cur = (out, n, oh, ow)
        elif t == "maxpool":
            k = int(layer["size"])
            s = int(layer["stride"])
            if s == 1:
                pads, oh, ow = [0, 0, k - 1, k - 1], cur[2], cur[3]
            else:
                pads, oh, ow = [0, 0, 0, 0], cur[2] // s, cur[3] // s
            nodes.append(helper.make_node("MaxPool", [cur[0]], [f"{name}_pool"], kernel_shape=[k, k],
                                          strides=[s, s], pads=pads))
            cur = (f"{name}_pool", cur[1], oh, ow)
        elif t == "upsample":
            s = int(layer["stride"])
            nodes.append(helper.make_node("Resize", [cur[0], "", const(f"{name}_scales", np.array([1, 1, s, s], np.float32))],
                                          [f"{name}_up"], mode="nearest"))
            cur = (f"{name}_up", cur[1], cur[2] * s, cur[3] * s)
        elif t == "route":
            idx = [int(x) for x in layer["layers"].split(",")]
            srcs = [outputs_of[j if j >= 0 else i + j] for j in idx]
            if len(srcs) == 1:
                cur = srcs[0]
            else:
                nodes.append(helper.make_node("Concat", [s_[0] for s_ in srcs], [f"{name}_cat"], axis=1))
                cur = (f"{name}_cat", sum(s_[1] for s_ in srcs), srcs[0][2], srcs[0][3])
        elif t == "yolo":
            anchors = np.array([float(a) for a in layer["anchors"].split(",")], np.float32).reshape(-1, 2)
            mask = [int(m) for m in layer["mask"].split(",")]
            classes = int(layer["classes"])
            if (not args.no_tiny_mask_fix and len(yolo_layers) == 2 and len(anchors) == 6
                    and mask == [0, 1, 2] and i == yolo_layers[-1]):
                mask = [1, 2, 3]  # pjreddie/darknet#851: what the official weights were trained with
            na, gh, gw = len(mask), cur[2], cur[3]
            stride = width / gw
            attrs = 5 + classes
            x = cur[0]
            r = f"{name}_r"
            nodes.append(helper.make_node("Reshape", [x, const(f"{name}_s1", np.array([-1 if args.dynamic_batch else 1, na, attrs, gh, gw], np.int64))], [r]))
            tr = f"{name}_t"
            nodes.append(helper.make_node("Transpose", [r], [tr], perm=[0, 1, 3, 4, 2]))

            def sl(a, b, out):
                nodes.append(helper.make_node("Slice", [tr, const(f"{out}_a", np.array([a], np.int64)),
                                                         const(f"{out}_b", np.array([b], np.int64)),
                                                         const(f"{out}_ax", np.array([4], np.int64))], [out]))
                return out

            xy, wh, rest = sl(0, 2, f"{name}_xy"), sl(2, 4, f"{name}_wh"), sl(4, attrs, f"{name}_rest")
            gy, gx = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
            grid = np.stack([gx, gy], -1).reshape(1, 1, gh, gw, 2).astype(np.float32)
            nodes.append(helper.make_node("Sigmoid", [xy], [f"{name}_xys"]))
            nodes.append(helper.make_node("Add", [f"{name}_xys", const(f"{name}_grid", grid)], [f"{name}_xyg"]))
            nodes.append(helper.make_node("Mul", [f"{name}_xyg", const(f"{name}_stride", np.array(stride, np.float32))], [f"{name}_xyp"]))
            anc = anchors[mask].reshape(1, na, 1, 1, 2).astype(np.float32)
            nodes.append(helper.make_node("Exp", [wh], [f"{name}_whe"]))
            nodes.append(helper.make_node("Mul", [f"{name}_whe", const(f"{name}_anc", anc)], [f"{name}_whp"]))
            nodes.append(helper.make_node("Sigmoid", [rest], [f"{name}_rs"]))
            nodes.append(helper.make_node("Concat", [f"{name}_xyp", f"{name}_whp", f"{name}_rs"], [f"{name}_dec"], axis=4))
            nodes.append(helper.make_node("Reshape", [f"{name}_dec", const(f"{name}_s2", np.array([-1 if args.dynamic_batch else 1, na * gh * gw, attrs], np.int64))], [f"{name}_out"]))
            heads.append((f"{name}_out", na * gh * gw, attrs))
        else:
            sys.exit(f"layer {i}: [{t}] is not supported by this converter")
        outputs_of.append(cur)

    if w.pos != w.data.size:
        sys.exit(f"{w.data.size - w.pos} weights left over: wrong cfg for these weights?")
    total = sum(h[1] for h in heads)
    attrs = heads[0][2]
    nodes.append(helper.make_node("Concat", [h[0] for h in heads], ["output"], axis=1))
    batch = "batch" if args.dynamic_batch else 1
    graph = helper.make_graph(
        nodes, "darknet",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, channels, height, width])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, total, attrs])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgeflow darknet2onnx")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, args.out)
    print(f"wrote {args.out}: input images [{batch},{channels},{height},{width}], output [{batch},{total},{attrs}]")


if __name__ == "__main__":
    main()
