"""Ship several emotion CNNs as one ONNX graph that averages their logits; refit the temperature on val.

    python training/ensemble_emotion.py --member tools/data/models/emotion.onnx \
        --member /work/runs/emotion_b/last.pt --run /work/runs/emotion_b --data ../shared/data/fer2013

Each ``--member`` is either an exported graph (``emotion.onnx`` as written by export_emotion.py: input
``gray`` N x 1 x 48 x 48 raw pixels, output ``logits`` N x 7, preprocessing and flip inside) or a
training checkpoint (``best.pt`` / ``last.pt`` of train_emotion.py), exported the same way first. The
members' logits are averaged (a geometric mean of their probabilities) inside one graph with the same
input and output names, so ``facelens.tools.emotion`` runs it unchanged. ``emotion.json`` keeps the
shipped FER framing (``--run``/framing.json, from training/fer_framing.py) and gets the ensemble's
temperature (fitted on val, as for one model), its val figures and each member's, and
``MODEL_CARD_emotion.md`` is rewritten from them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import compose, helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_emotion as ee  # noqa: E402
import train_emotion as te  # noqa: E402


def member_model(spec: str, workdir: Path, index: int) -> tuple[onnx.ModelProto, dict]:
    """Load one member as an ONNX model (exporting a checkpoint first) and describe where it came from."""
    path = Path(spec)
    if path.suffix == ".onnx":
        meta_path = path.with_suffix(".json")
        info = {"source": str(path)}
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            info.update(version=meta.get("version"), train=meta.get("train"))
        return onnx.load(str(path)), info
    ck = torch.load(path, weights_only=False)
    cfg = ck["config"]
    net = te.EmotionNet(cfg["width"], tuple(cfg["depth"]))
    net.load_state_dict(ck["model"])
    out = workdir / f"member{index}.onnx"
    ee.export_onnx(net, out)
    hist = ck.get("history") or []
    info = {
        "source": str(path),
        "version": f"fer2013-vgg{cfg['width']}-e{ck['epoch'] + 1}-seed{cfg['args'].get('seed', 0)}",
        "train": {
            "epochs_run": ck["epoch"] + 1,
            "args": cfg["args"],
            "params": int(sum(p.numel() for p in net.parameters())),
            "history": hist,
            "minutes": round(sum(r["seconds"] for r in hist) / 60, 1),
        },
    }
    return onnx.load(str(out)), info


def merge(models: list[onnx.ModelProto]) -> onnx.ModelProto:
    """One graph: ``gray`` -> every member -> the mean of their ``logits``."""
    nodes, inits, outs = [], [], []
    for i, m in enumerate(models):
        p = compose.add_prefix(m, f"m{i}_")
        nodes.append(helper.make_node("Identity", ["gray"], [f"m{i}_gray"], name=f"m{i}_input"))
        nodes.extend(p.graph.node)
        inits.extend(p.graph.initializer)
        outs.append(f"m{i}_logits")
    nodes.append(helper.make_node("Mean", outs, ["logits"], name="ensemble_mean"))
    graph = helper.make_graph(
        nodes, "emotion_ensemble", [models[0].graph.input[0]], [models[0].graph.output[0]], initializer=inits
    )
    opset = max(o.version for m in models for o in m.opset_import if o.domain in ("", "ai.onnx"))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = models[0].ir_version
    onnx.checker.check_model(model)
    return model


def run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate(
        [sess.run(None, {"gray": x[i : i + 256, None].astype(np.float32)})[0] for i in range(0, len(x), 256)]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--member", action="append", required=True, help="an emotion.onnx or a checkpoint (repeat)")
    ap.add_argument("--run", type=Path, required=True, help="a folder with framing.json / framing.npz (fer_framing.py)")
    ap.add_argument("--data", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--out", type=Path, default=ee.MODELS)
    ap.add_argument("--command", action="append", default=[], help="commands that trained the members, for the card")
    args = ap.parse_args()
    if len(args.member) < 2:
        ap.error("an ensemble needs at least two --member")
    torch.set_num_threads(2)
    xva, yva = te.load_split(args.data, "val", args.run)
    labels = list(te.EMOTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        members = [member_model(spec, Path(tmp), i) for i, spec in enumerate(args.member)]
        for (m, info), i in zip(members, range(len(members))):
            single = Path(tmp) / f"single{i}.onnx"
            onnx.save(m, str(single))
            logits_i = run(single, xva)
            info["val"] = {
                k: v
                for k, v in ee.classification_report(yva, logits_i.argmax(1), labels).items()
                if k in ("accuracy", "macro_f1", "n")
            }
            print(f"member {i} {info['source']}: val {info['val']}")
        model = merge([m for m, _ in members])
        args.out.mkdir(parents=True, exist_ok=True)
        onnx_path = args.out / "emotion.onnx"
        staged = Path(tmp) / "emotion.onnx"
        onnx.save(model, str(staged))
        logits = run(staged, xva)
        ref = np.mean([run(Path(tmp) / f"single{i}.onnx", xva[:256]) for i in range(len(members))], axis=0)
        max_diff = float(np.abs(ref - logits[:256]).max())
        assert max_diff < 1e-4, f"the merged graph and its members disagree by {max_diff}"
        onnx_path.write_bytes(staged.read_bytes())

    params = sum(int(np.prod(i.dims)) for i in model.graph.initializer)
    meta = ee.model_meta(f"fer2013-vgg16x{len(members)}-{dt.date.today():%Y%m%d}", logits, yva, args.run)
    report = meta["val"]
    meta |= {
        "members": [info for _, info in members],
        "train": {"params": int(params), "commands": args.command},
        "onnx_max_abs_diff": max_diff,
    }
    (args.out / "emotion.json").write_text(json.dumps(meta, indent=1))
    if args.out == ee.MODELS and (args.run / "framing.npz").is_file():
        meta["pipeline_check"] = ee.pipeline_check(args, logits, yva)
        (args.out / "emotion.json").write_text(json.dumps(meta, indent=1))
        print(json.dumps(meta["pipeline_check"]))
    print(json.dumps({k: meta[k] for k in ("version", "temperature", "calibration")}, indent=1))
    print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "n")}))
    from model_card_emotion import write_card  # noqa: E402

    write_card(meta, args.out / "MODEL_CARD_emotion.md")


if __name__ == "__main__":
    main()
