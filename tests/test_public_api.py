"""``import facelens``: the public API (analyze, ask, Chat, Gallery) on real models and photos."""

from __future__ import annotations

import subprocess
import sys

import pytest

import facelens
from facelens.tools.errors import FacelensError, InputError, NotFoundError


def test_import_is_light():
    """``import facelens`` loads no model and no heavy library."""
    code = ("import sys, facelens; heavy = [m for m in ('numpy', 'onnxruntime', 'faiss', 'dlib', 'cv2', 'torch', "
            "'langchain_core', 'mediapipe', 'faster_whisper') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    assert facelens.__version__ and {"analyze", "ask", "Chat", "Gallery"} <= set(facelens.__all__)


def test_analyze_and_ask_a_group_photo(group_jpg):
    path, placed = group_jpg
    scene = facelens.analyze(path)
    assert len(scene.faces) == len(placed) and scene.detector
    a = facelens.ask(path, "How many people are in this photo?", backend="offline")
    assert a.backend == "offline" and str(len(placed)) in a.answer


def test_chat_keeps_the_conversation(group_jpg):
    path, _ = group_jpg
    chat = facelens.Chat([path], backend="offline")
    first = chat.ask("who is on the far left?")
    follow = chat.ask("what is she feeling?")
    assert first.faces and follow.faces and follow.faces[0].id == first.faces[0].id


def test_gallery_enrol_identify_remove(astronaut_jpg, hopper_jpg, group_jpg):
    g = facelens.Gallery()
    assert len(g) == 0 and g.identify(astronaut_jpg) == [None]  # empty gallery: nothing to match
    done = g.enroll("Eileen", astronaut_jpg)
    assert len(done) == 1 and "Eileen" in g and [p.name for p in g.people()] == ["Eileen"]
    match = g.identify(astronaut_jpg)[0]
    assert match.known and match.name == "Eileen"
    stranger = g.identify(hopper_jpg)[0]
    assert not stranger.known and stranger.name == "unknown"
    erased = g.remove("Eileen")
    assert erased.name == "Eileen" and "Eileen" not in g and len(facelens.Gallery()) == 0


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FacelensError):
        facelens.analyze(tmp_path / "missing.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError):
        facelens.analyze(bad)
    with pytest.raises(NotFoundError):
        facelens.Gallery().remove("Nobody")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        facelens.nope  # noqa: B018
    assert facelens.FacelensError is FacelensError


def test_gallery_on_milvus_lite(astronaut_jpg, hopper_jpg):
    """The same facade over the Milvus store (Milvus Lite file under FACELENS_HOME)."""
    pytest.importorskip("pymilvus", reason="pip install 'facelens[milvus]' to run the Milvus store")
    pytest.importorskip("milvus_lite", reason="pip install 'facelens[milvus]' to run the Milvus store")
    g = facelens.Gallery(store="milvus")
    try:
        g.enroll("Eileen", astronaut_jpg)
        assert "milvus" in repr(g).lower() and g.identify(astronaut_jpg)[0].name == "Eileen"
        assert g.identify(hopper_jpg)[0].name == "unknown"
        assert g.remove("Eileen").name == "Eileen" and "Eileen" not in g and len(g) == 0
    finally:
        g.close()
