"""Erasure that erases, and names that identify one person: ``gallery remove NAME`` deletes the
person from every file under FACELENS_HOME and says what it deleted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.agent.erasure import erase_person
from facelens.agent.sessions import store
from facelens.agent.sessions.store import SessionRecord, TrackInfo
from facelens.tools import identity
from facelens.tools.errors import InputError, NotFoundError
from facelens.tools.exemplars import ExemplarStore
from facelens.tools.identity import FaissGallery
from facelens.tools.scene import analyze_image, face_embeddings


def _unit(seed: int, n: int = 1) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _session(sid: str, names: list[str | None]) -> None:
    people = [TrackInfo(track=i + 1, name=n, first_seen=0, last_seen=1, seconds=1) for i, n in enumerate(names)]
    rec = SessionRecord(
        session_id=sid,
        source=f"{sid}.mp4",
        created=store.now(),
        duration=2,
        has_video=True,
        has_audio=False,
        fps=2,
        people=people,
    )
    store.save(rec, [])


def test_remove_erases_from_every_store(facelens_home, astronaut_jpg, hopper_jpg, group_jpg, capsys):
    identity.enroll("Alice", [astronaut_jpg])
    identity.enroll("Grace", [hopper_jpg])
    g = FaissGallery()
    assert len(g) == 2
    her = g._vectors[0].copy()
    analyze_image(astronaut_jpg)  # cached: holds her face embedding
    analyze_image(hopper_jpg)  # cached: not her
    analyze_image(group_jpg[0])  # cached: two of the four faces are her
    ExemplarStore().add(astronaut_jpg, "happy")  # her face as an exemplar
    ExemplarStore().add(hopper_jpg, "neutral")
    _session("call", ["alice", "Grace", None])
    FaissGallery().add("Bob", _unit(1), ["b"])  # one more generation, so the previous one held her too

    assert main(["gallery", "remove", "ALICE", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done == {
        "name": "Alice",
        "embeddings": 1,
        "cache_files": 2,
        "exemplars": ["ex1"],
        "session_tracks": ["call:1"],
        "notes": [],
        "stores": ["faiss"],
        "complete": True,
    }
    # nothing under FACELENS_HOME holds her embedding or her name any more
    for p in facelens_home.rglob("*"):
        if p.is_file() and p.suffix != ".onnx":
            raw = p.read_bytes()
            assert her.tobytes() not in raw and b"Alice" not in raw and b"alice" not in raw, p
    # and nothing else was touched
    assert [p.name for p in FaissGallery().people()] == ["Bob", "Grace"]
    assert [e.id for e in ExemplarStore(builtins=False).list()] == ["ex2"]
    assert [t.name for t in store.load("call").people] == [None, "Grace", None]
    assert analyze_image(hopper_jpg).cached
    assert len(face_embeddings(group_jpg[0])) == 4  # a removed cache entry is simply recomputed


def test_remove_says_what_it_removed(astronaut_jpg, capsys):
    identity.enroll("Alice", [astronaut_jpg])
    assert main(["gallery", "remove", "alice"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Removed Alice: 1 embedding(s)") and "cached analysis" in out and "session face track" in out
    assert main(["gallery", "remove", "alice"]) == 2
    assert "No one called 'alice'" in capsys.readouterr().err


def test_names_are_unique_without_regard_to_case(capsys, astronaut_jpg):
    g = FaissGallery()
    assert g.add_person("Alice", _unit(1), ["a"])[0] == "Alice"
    assert g.add_person("  alice ", _unit(2), ["b"])[0] == "Alice"  # adds to Alice
    assert g.add_person("Zoe\u0301", _unit(3), ["z"])[0] == "Zo\u00e9"  # NFC: one spelling
    assert g.add_person("ZO\u00c9", _unit(4), ["z2"])[0] == "Zo\u00e9"
    assert [(p.name, p.images) for p in g.people()] == [("Alice", 2), ("Zo\u00e9", 2)]
    assert main(["enroll", "ALICE", str(astronaut_jpg)]) == 0
    assert "Added 1 image(s) to Alice, who was already enrolled" in capsys.readouterr().out
    assert g.remove("Zoe\u0301") == 2  # removable by the name as typed, decomposed or not
    assert [p.name for p in FaissGallery().people()] == ["Alice"]


def test_a_tidied_name_is_removed_by_the_name_as_given():
    FaissGallery().add("line1\nline2", _unit(1), ["x"])
    assert [p.name for p in FaissGallery().people()] == ["line1 line2"]
    assert erase_person("line1\n  line2").embeddings == 1


@pytest.mark.parametrize("name", ["Al\u200bice", "\u202eecilA", "Alice\u2066", "A\ufeffb", "x\u200d", "a\x00b"])
def test_invisible_and_bidi_characters_are_refused(name):
    with pytest.raises(InputError, match="invisible or control"):
        FaissGallery().add(name, _unit(1), ["x"])
    assert FaissGallery().people() == []


def test_remove_matches_exactly_one_person(facelens_home):
    """Galleries written before names were unique may hold 'Alice' and 'alice': remove takes one."""
    g = FaissGallery()
    g.add("Alice", _unit(1), ["a"])
    with g._lock():  # write an old-style gallery with two spellings of one name
        g._refresh()
        e = g._entries[0]
        g._write(np.vstack([g._vectors, _unit(2)]), g._entries + [identity.Entry(2, "alice", "b", e.added)], 3)
    with pytest.raises(InputError, match="matches 2 people"):
        FaissGallery().remove("ALICE")
    assert FaissGallery().remove("alice") == 1  # the exact spelling picks one
    assert [p.name for p in FaissGallery().people()] == ["Alice"]
    with pytest.raises(NotFoundError):
        FaissGallery().remove("Bob")


def test_traversal_and_odd_names_stay_data(facelens_home):
    for name in ("../../etc/passwd", "a/b\\c", "'; DROP TABLE sessions; --"):
        FaissGallery().add(name, _unit(len(name)), ["x"])
    assert {p.name for p in FaissGallery().people()} == {"../../etc/passwd", "a/b\\c", "'; DROP TABLE sessions; --"}
    assert sorted(p.name for p in facelens_home.rglob("*") if p.is_file()) == [
        "gallery.npz",
        "gallery.npz.lock",
        "gallery.npz.prev",
    ]
    assert erase_person("../../etc/passwd").embeddings == 1
