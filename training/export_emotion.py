"""Export the best emotion checkpoint to ONNX, fit its temperature on val, and write the model card.

    python training/export_emotion.py --run /work/runs/emotion --data ../shared/data/fer2013

Writes ``tools/data/models/emotion.onnx`` (input ``gray``: N x 1 x 48 x 48 float32 pixel values 0-255;
the graph centre-crops, normalises and averages the logits of the image and its mirror; output
``logits``: N x 7), ``emotion.json`` (labels, temperature, crop zoom, metrics) and
``MODEL_CARD_emotion.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_emotion as te  # noqa: E402

MODELS = Path(__file__).resolve().parents[1] / "tools" / "data" / "models"


class Deployed(nn.Module):
    """Raw 48 x 48 grey pixels in, flip-averaged logits out: all preprocessing inside the graph."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, gray: torch.Tensor) -> torch.Tensor:
        x = te.test_view((gray / 255.0 - te.MEAN) / te.STD)
        return (self.net(x) + self.net(torch.flip(x, dims=[3]))) / 2


def export_onnx(net: nn.Module, path: Path) -> None:
    """Write ``net`` as the runtime's graph: input ``gray`` (N x 1 x 48 x 48 raw pixels), output ``logits``."""
    torch.onnx.export(
        Deployed(net).eval(),
        (torch.zeros(2, 1, te.SIZE, te.SIZE),),
        str(path),
        input_names=["gray"],
        output_names=["logits"],
        dynamic_axes={"gray": {0: "n"}, "logits": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top label, equal-width confidence bins."""
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood (1-D bounded search over log T)."""
    from scipy.optimize import minimize_scalar

    def nll(log_t: float) -> float:
        p = softmax(logits / np.exp(log_t))
        return float(-np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-2, 2), method="bounded").x))


def classification_report(y: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    """accuracy, macro_f1, per_class {precision, recall, f1, support}, confusion (rows = truth)."""
    k = len(labels)
    cm = np.zeros((k, k), dtype=int)
    np.add.at(cm, (y, pred), 1)
    per = {}
    for i, name in enumerate(labels):
        tp, sup, npred = cm[i, i], cm[i].sum(), cm[:, i].sum()
        p = tp / npred if npred else 0.0
        r = tp / sup if sup else 0.0
        per[name] = {
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(2 * p * r / (p + r)) if p + r else 0.0, 4),
            "support": int(sup),
        }
    return {
        "accuracy": round(float((y == pred).mean()), 4),
        "macro_f1": round(float(np.mean([v["f1"] for v in per.values()])), 4),
        "n": int(len(y)),
        "per_class": per,
        "confusion": cm.tolist(),
    }


def model_meta(version: str, logits: np.ndarray, yva: np.ndarray, run: Path) -> dict:
    """The metadata every exported emotion graph ships with: labels, the temperature fitted on val and its
    calibration (same-set and 2-fold), the val report, and the FER framing measured by fer_framing.py."""
    temp = fit_temperature(logits, yva)
    # honest calibration estimate: fit T on one half of val, measure ECE on the other half, and swap
    rng = np.random.default_rng(0)
    half = rng.permutation(len(yva)) < len(yva) // 2
    cross = []
    for a, b in ((half, ~half), (~half, half)):
        t_ab = fit_temperature(logits[a], yva[a])
        cross.append(ece(softmax(logits[b] / t_ab), yva[b]) * b.mean())
    labels = list(te.EMOTIONS)
    # run training/fer_framing.py first: the FER framing the runtime reproduces
    framing = json.loads((run / "framing.json").read_text())
    return {
        "version": version,
        "labels": labels,
        "input": "gray",
        "input_size": te.SIZE,
        "temperature": round(temp, 4),
        "fer_landmarks": framing["fer_mean_landmarks"],
        "align_zoom": round(float(framing["zoom"]), 3),
        "framing": {k: v for k, v in framing.items() if k != "fer_mean_landmarks"},
        "val": classification_report(yva, logits.argmax(1), labels),
        "calibration": {
            "ece_before": round(ece(softmax(logits), yva), 4),
            "ece_after": round(ece(softmax(logits / temp), yva), 4),
            "ece_after_2fold": round(float(sum(cross)), 4),
            "bins": 15,
        },
    }


def pipeline_check(args: argparse.Namespace, logits: np.ndarray, yva: np.ndarray) -> dict:
    """The CNN's accuracy on FER val faces re-cropped by facelens.tools.emotion from their landmarks vs the originals."""
    import cv2

    from facelens.tools import emotion

    emotion._meta.cache_clear()
    z = np.load(args.run / "framing.npz")
    files = sorted((args.data / "val").glob("*/*"))
    index = {str(p.relative_to(args.data)): i for i, p in enumerate(files)}
    idx, crops = [], []
    for rel, lm in zip(z["files"], z["landmarks"]):
        g = cv2.imread(str(args.data / rel), cv2.IMREAD_GRAYSCALE)
        # the CNN alone on the runtime's crop: this checks the framing, not the fusion head fitted on top
        crops += emotion.face_crops(np.ascontiguousarray(np.repeat(g[:, :, None], 3, axis=2)), [lm])
        idx.append(index[str(rel)])
    pred = emotion.probabilities(crops).argmax(1)
    idx_a = np.array(idx)
    return {
        "n": len(idx),
        "accuracy_original_crops": round(float((logits[idx_a].argmax(1) == yva[idx_a]).mean()), 4),
        "accuracy_realigned": round(float((np.array(pred) == yva[idx_a]).mean()), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=Path("/work/runs/emotion"))
    ap.add_argument("--data", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--checkpoint", default="best.pt")
    ap.add_argument("--out", type=Path, default=MODELS)
    ap.add_argument(
        "--train-command",
        action="append",
        default=[],
        help="the training command(s) actually run, verbatim, for the model card (repeatable)",
    )
    args = ap.parse_args()
    torch.set_num_threads(2)
    ck = torch.load(args.run / args.checkpoint, weights_only=False)
    cfg = ck["config"]
    net = te.EmotionNet(cfg["width"], tuple(cfg["depth"]))
    net.load_state_dict(ck["model"])
    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "emotion.onnx"
    export_onnx(net, onnx_path)

    import onnxruntime as ort

    xva, yva = te.load_split(args.data, "val", args.run)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    logits = np.concatenate(
        [sess.run(None, {"gray": xva[i : i + 256, None].astype(np.float32)})[0] for i in range(0, len(xva), 256)]
    )
    ref = te.predict_logits(net, xva[:256])
    max_diff = float(np.abs(ref - logits[:256]).max())
    assert max_diff < 1e-3, f"ONNX and torch disagree by {max_diff}"

    meta = model_meta(f"fer2013-vgg{cfg['width']}-e{ck['epoch'] + 1}-{dt.date.today():%Y%m%d}", logits, yva, args.run)
    report = meta["val"]
    meta |= {
        "train": {
            "epochs_run": ck["epoch"] + 1,
            "args": cfg["args"],
            "params": int(sum(p.numel() for p in net.parameters())),
            "checkpoint": args.checkpoint,
        },
        "onnx_max_abs_diff": max_diff,
    }
    hist = args.run / "history.json"
    if hist.exists():
        h = json.loads(hist.read_text())
        meta["train"]["history"] = h
        meta["train"]["minutes"] = round(sum(r["seconds"] for r in h) / 60, 1)
    if args.train_command:
        meta["train"]["commands"] = args.train_command
    (args.out / "emotion.json").write_text(json.dumps(meta, indent=1))
    if args.out == MODELS:
        meta["pipeline_check"] = pipeline_check(args, logits, yva)
        (args.out / "emotion.json").write_text(json.dumps(meta, indent=1))
        print(json.dumps(meta["pipeline_check"]))
    print(json.dumps({k: meta[k] for k in ("version", "temperature", "align_zoom", "calibration")}, indent=1))
    print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "n")}))
    from model_card_emotion import write_card  # noqa: E402

    write_card(meta, args.out / "MODEL_CARD_emotion.md")


if __name__ == "__main__":
    main()
