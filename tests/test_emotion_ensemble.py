"""training/ensemble_emotion.py: members merged into one graph give the mean of their logits; the shipped
model's metadata names its members."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TRAINING = Path(__file__).resolve().parents[1] / "training"
sys.path.insert(0, str(TRAINING))
import ensemble_emotion as ens  # noqa: E402
import train_emotion as te  # noqa: E402


def _checkpoint(tmp_path: Path, seed: int) -> Path:
    """A tiny random network saved the way train_emotion.py saves its checkpoints."""
    torch.manual_seed(seed)
    net = te.EmotionNet(4, (1, 1, 1, 1))
    path = tmp_path / f"ck{seed}.pt"
    cfg = {"width": 4, "depth": [1, 1, 1, 1], "args": {"seed": seed, "width": 4}}
    torch.save({"model": net.state_dict(), "config": cfg, "epoch": 0, "history": []}, path)
    return path


def _run(model, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"gray": x})[0]


def test_merged_graph_averages_its_members_logits(tmp_path):
    members = [ens.member_model(str(_checkpoint(tmp_path, s)), tmp_path, i) for i, s in enumerate((1, 2))]
    merged = ens.merge([m for m, _ in members])
    x = np.random.default_rng(0).integers(0, 256, (5, 1, 48, 48)).astype(np.float32)
    singles = [_run(m, x) for m, _ in members]
    assert not np.allclose(singles[0], singles[1])  # two different networks
    out = _run(merged, x)
    assert out.shape == (5, 7)
    np.testing.assert_allclose(out, np.mean(singles, axis=0), atol=1e-5)
    # the same input and output names as one exported model: the runtime needs no change
    assert [i.name for i in merged.graph.input] == ["gray"] and [o.name for o in merged.graph.output] == ["logits"]
    assert members[1][1]["version"].endswith("seed2") and members[1][1]["train"]["epochs_run"] == 1


def test_an_onnx_member_keeps_its_own_metadata(tmp_path):
    model, _ = ens.member_model(str(_checkpoint(tmp_path, 3)), tmp_path, 0)
    path = tmp_path / "emotion.onnx"
    onnx.save(model, str(path))
    (tmp_path / "emotion.json").write_text(json.dumps({"version": "fer2013-test", "train": {"epochs_run": 7}}))
    loaded, info = ens.member_model(str(path), tmp_path, 1)
    assert info["version"] == "fer2013-test" and info["train"]["epochs_run"] == 7
    x = np.zeros((2, 1, 48, 48), np.float32)
    np.testing.assert_allclose(_run(loaded, x), _run(model, x), atol=1e-6)


def test_shipped_model_names_its_members_and_their_figures():
    from facelens.tools import emotion

    meta = emotion._meta()
    members = meta.get("members")
    if not members:
        pytest.skip("the shipped emotion model is a single network")
    assert len(members) >= 2
    for m in members:
        assert 0.0 < m["val"]["accuracy"] <= 1.0 and m.get("version")
    assert len(onnx.load(str(emotion._path(emotion.MODEL_FILE))).graph.node) > 0
