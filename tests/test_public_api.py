"""``import facelens``: the public API (analyze, ask, Chat, Gallery) on real models and photos."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import facelens
from facelens.tools.errors import FacelensError, InputError, NotFoundError


def test_import_is_light():
    """``import facelens`` loads no model and no heavy library."""
    code = (
        "import sys, facelens; heavy = [m for m in ('numpy', 'onnxruntime', 'faiss', 'dlib', 'cv2', 'torch', "
        "'langchain_core', 'mediapipe', 'faster_whisper') if m in sys.modules]; print(heavy)"
    )
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


REPO = Path(__file__).resolve().parents[1]


def test_import_from_the_folder_holding_a_clone_named_facelens(tmp_path):
    """`import facelens` run beside a clone named facelens gets the package, not an empty namespace (issue 27).

    setup.sh installs in setuptools' strict editable mode (a link tree on sys.path); the default mode's import
    hook loses to the clone folder, which Python reads as a namespace package."""
    (tmp_path / "facelens").symlink_to(REPO, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = "import facelens, facelens.agent.sessions.store; print(facelens.analyze.__name__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "analyze", out.stderr[-2000:]


def test_packages_are_found_not_listed():
    """Every folder under pyproject's package-dir mapping is a package of the wheel, none written by hand."""
    assert "packages =" not in (REPO / "pyproject.toml").read_text()
    scope = {"__name__": "setup_under_test", "__file__": str(REPO / "setup.py")}
    exec(compile((REPO / "setup.py").read_text(), "setup.py", "exec"), scope)
    found = set(scope["packages"])
    for folder, package in {
        "agent": "facelens.agent",
        "prompts": "facelens.prompts",
        "tools": "facelens.tools",
    }.items():
        for init in (REPO / folder).rglob("__init__.py"):
            sub = init.parent.relative_to(REPO / folder).parts
            assert ".".join((package, *sub)) in found
    assert {"facelens.prompts.eval", "facelens.agent.sessions", "facelens.agent.assistant.backends"} <= found
