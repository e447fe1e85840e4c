"""Few-shot exemplar store and the ``facelens exemplars`` CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.tools.errors import GalleryError, ImageError, InputError, NoFaceError, NotFoundError
from facelens.tools.exemplars import ExemplarStore, face_and_crop
from facelens.tools.images import load_image
from tests.conftest import save


def test_builtins_are_listed_and_protected():
    store = ExemplarStore()
    ids = [e.id for e in store.list()]
    assert ids == ["builtin-astronaut-happy", "builtin-hopper-neutral"]
    assert all(e.builtin for e in store.list()) and ExemplarStore(builtins=False).list() == []
    with pytest.raises(InputError, match="built in"):
        store.remove("builtin-astronaut-happy")


def test_add_nearest_remove(astronaut_jpg, hopper_jpg, facelens_home):
    store = ExemplarStore(builtins=False)
    a = store.add(astronaut_jpg, "Happy", "  big   smile ")
    h = store.add(hopper_jpg, "neutral")
    assert (a.id, a.label, a.note, h.id, h.note) == ("ex1", "happy", "big smile", "ex2", None)
    root = facelens_home / "exemplars"
    assert (root / "ex1.jpg").is_file() and (root / "store.npz").is_file()
    # a fresh store reads the same exemplars back; the nearest to the astronaut is the astronaut
    again = ExemplarStore(builtins=False)
    vec = face_and_crop(load_image(astronaut_jpg).rgb).vector
    near = again.nearest(vec, 2)
    assert [e.id for e, _ in near] == ["ex1", "ex2"] and near[0][1] < 0.1 < near[1][1]
    assert json.loads(again.answer(a)) == {
        "expression": "big smile",
        "emotion": "happy",
        "confidence": 1.0,
        "compound_emotions": [],
    }
    assert json.loads(again.answer(h))["expression"] == "looks neutral"
    assert again.image(a).shape[2] == 3 and again.nearest(vec, 0) == []
    removed = again.remove("ex1")
    assert removed.id == "ex1" and not (root / "ex1.jpg").exists()
    assert [e.id for e in ExemplarStore(builtins=False).list()] == ["ex2"]
    for gen in ("store.npz", "store.npz.prev"):  # the removed embedding is in neither generation
        with np.load(root / gen) as data:
            assert len(data["vectors"]) == 1
    assert ExemplarStore(builtins=False).add(astronaut_jpg, "happy").id == "ex3"  # ids are never reused


def test_nearest_mixes_builtins_and_users(astronaut):
    store = ExemplarStore()
    near = store.nearest(face_and_crop(astronaut).vector, 5)
    assert near[0][0].id == "builtin-astronaut-happy" and len(near) == 2


def test_tight_crops(tmp_path, astronaut):
    blank = save(np.full((48, 48, 3), 128, np.uint8), tmp_path / "blank.png", "PNG")
    with pytest.raises(NoFaceError, match="--crop"):
        ExemplarStore().add(blank, "sad")
    ex = ExemplarStore().add(blank, "sad", assume_crop=True)  # taken whole, as a FER-style crop
    assert ex.label == "sad"


@pytest.mark.parametrize("label", ["furious", "", "HAPPY!"])
def test_unknown_labels(astronaut_jpg, label):
    with pytest.raises(InputError, match="Use one of"):
        ExemplarStore().add(astronaut_jpg, label)


def test_bad_inputs(tmp_path, astronaut_jpg):
    store = ExemplarStore()
    with pytest.raises(InputError, match="limit"):
        store.add(astronaut_jpg, "happy", "x" * 400)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(astronaut_jpg.read_bytes()[:500])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    for bad in (empty, truncated, text, tmp_path / "missing.jpg", tmp_path):
        with pytest.raises(ImageError):
            store.add(bad, "happy")
    with pytest.raises(NotFoundError, match="No exemplar"):
        store.remove("ex42")
    assert [e.builtin for e in store.list()] == [True, True]  # nothing half-added


def test_damaged_store_is_reported(astronaut_jpg, facelens_home):
    store = ExemplarStore(builtins=False)
    store.add(astronaut_jpg, "happy")
    path = facelens_home / "exemplars" / "store.npz"
    path.write_bytes(path.read_bytes()[:100])  # only one generation exists: nothing to fall back to
    with pytest.raises(GalleryError, match="damaged.*exemplars repair"):
        ExemplarStore(builtins=False).list()


def test_cli(astronaut_jpg, capsys):
    assert main(["exemplars", "add", str(astronaut_jpg), "--label", "happy", "--note", "grin"]) == 0
    assert "Added exemplar ex1 (happy: grin)" in capsys.readouterr().out
    assert main(["exemplars", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in listed] == ["builtin-astronaut-happy", "builtin-hopper-neutral", "ex1"]
    assert main(["exemplars", "remove", "ex1"]) == 0
    assert "Removed exemplar ex1" in capsys.readouterr().out
    assert main(["exemplars", "remove", "ex1"]) == 2
    assert "No exemplar 'ex1'" in capsys.readouterr().err
    assert main(["exemplars", "add", str(astronaut_jpg), "--label", "joy"]) == 2
    assert "Unknown emotion label" in capsys.readouterr().err


def test_describe_cli_without_a_vlm(group_jpg, capsys, monkeypatch):
    for name in (
        "FACELENS_VLM",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "FACELENS_VLM_BASE_URL",
        "FACELENS_LOCAL_VLM",
        "FACELENS_VLM_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    code = main(["describe", str(group_jpg[0]), "--face", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert (
        out["face_id"] == 3
        and out["backend"] in ("classifier", "none")
        and out["attributes"]["clothing_colour"] == "green"
    )
    assert code == (0 if out["backend"] == "classifier" else 1)
    assert main(["describe", str(group_jpg[0]), "--face", "7"]) == 2
    assert "no face 7" in capsys.readouterr().err


def test_builtins_need_no_scikit_image(monkeypatch, capsys, hopper):
    """`pip install 'facelens[all]'` has no scikit-image: the built-in crops ship as package data."""
    import sys

    from facelens.eval import scenes
    from facelens.tools import exemplars

    monkeypatch.setitem(sys.modules, "skimage", None)
    scenes.astronaut.cache_clear()
    exemplars._builtin_data.cache_clear()
    try:
        assert main(["exemplars", "list"]) == 0
        assert "builtin-astronaut-happy" in capsys.readouterr().out
        near = ExemplarStore().nearest(face_and_crop(hopper).vector, 1)
        assert near[0][0].id == "builtin-hopper-neutral" and near[0][1] < 0.3
        assert ExemplarStore().image(near[0][0]).shape[2] == 3
    finally:
        exemplars._builtin_data.cache_clear()
