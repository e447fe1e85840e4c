"""Crash-safe local state, with faults injected: a process SIGKILLed at a chosen rename, truncated
and altered files, leftovers of older versions. Every store must come back consistent at the next
open, delete what the dead process left, and say how to repair real damage."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.tools import atomic
from facelens.tools.errors import GalleryError
from facelens.tools.identity import Gallery

REPO = Path(__file__).resolve().parents[1]

#: run ``code`` with os.replace patched to SIGKILL the process at the n-th rename onto ``target``
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    target, nth, code = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    real, seen = os.replace, [0]
    def replace(src, dst, *a, **k):
        if os.path.basename(str(dst)) == target:
            seen[0] += 1
            if seen[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(src, dst, *a, **k)
    os.replace = replace
    exec(code)
    """
)


def killed_at(target: str, code: str, home: Path, nth: int = 1) -> None:
    """Run ``code`` in a fresh interpreter and check it died by SIGKILL at that rename."""
    env = {**os.environ, "FACELENS_HOME": str(home)}
    proc = subprocess.run([sys.executable, "-c", KILLER, target, str(nth), textwrap.dedent(code)], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def _unit(seed: int, n: int = 1) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("target", ["gallery.npz", "gallery.npz.prev"])
def test_enrol_killed_at_a_rename(facelens_home, target):
    Gallery().add("Dana", _unit(1), ["d"])
    Gallery().add("Finn", _unit(3), ["f"])
    eve = _unit(2)
    np.save(facelens_home / "eve.npy", eve)
    killed_at(target, """
        import numpy as np
        from facelens.tools.identity import Gallery
        Gallery().add("Eve", np.load(os.environ["FACELENS_HOME"] + "/eve.npy"), ["e"])
    """, facelens_home)
    folder = facelens_home / "gallery"
    assert [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # what the dead process left
    assert [p.name for p in Gallery().people()] == ["Dana", "Finn"]  # the old gallery, whole
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # deleted at the next open
    Gallery().add("Gus", _unit(4), ["g"])  # and writes work again
    Gallery().remove("Dana")
    assert not _files_holding(folder, eve.tobytes()) and not _files_holding(folder, _unit(1).tobytes())


@pytest.mark.parametrize("target", ["gallery.npz", "gallery.npz.prev"])
def test_remove_killed_at_a_rename_leaves_before_or_after(facelens_home, target):
    Gallery().add("Dana", _unit(1), ["d"])
    Gallery().add("Eve", _unit(2), ["e"])
    killed_at(target, "from facelens.tools.identity import Gallery; Gallery().remove('Eve')", facelens_home)
    assert [p.name for p in Gallery().people()] in (["Dana", "Eve"], ["Dana"])
    assert Gallery().status() is None
    if len(Gallery().people()) == 2:  # the removal never happened: running it again finishes it
        Gallery().remove("Eve")
    assert not _files_holding(facelens_home / "gallery", _unit(2).tobytes())


def test_old_versions_temp_file_is_removed(facelens_home):
    Gallery().add("Dana", _unit(1), ["d"])
    leftover = facelens_home / "gallery" / ".gallery-abc123.tmp"  # what enroll killed at its rename left before
    leftover.write_bytes((facelens_home / "gallery" / "gallery.npz").read_bytes())
    Gallery().people()
    assert not leftover.exists()


def test_truncated_gallery_uses_the_last_good_generation(facelens_home, capsys, caplog):
    Gallery().add("Dana", _unit(1), ["d"])
    Gallery().add("Eve", _unit(2), ["e"])
    path = facelens_home / "gallery" / "gallery.npz"
    path.write_bytes(path.read_bytes()[:300])
    # reading works from the previous generation, with a warning
    assert main(["gallery", "list"]) == 0
    out, err = capsys.readouterr()
    assert "Dana" in out and "damaged" in err and "facelens gallery repair" in err
    caplog.clear()
    assert [m.name for m in Gallery().match(_unit(1))] == ["Dana"]  # analyze, ask, identify: the same
    assert "Using the last good generation" in caplog.text and "gallery repair" in caplog.text
    # writing refuses (exit 2, a hint), and doctor fails
    with pytest.raises(GalleryError, match="damaged"):
        Gallery().add("Finn", _unit(3), ["f"])
    assert main(["gallery", "remove", "Dana"]) == 2
    assert "facelens gallery repair" in capsys.readouterr().err
    assert main(["doctor", "--json"]) == 1
    stores = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "stores")
    assert not stores["ok"] and "gallery repair" in stores["hint"]
    # repair restores it; Eve's enrolment, made after that generation, is lost and says so
    assert main(["gallery", "repair"]) == 0
    assert "Restored the last good generation" in capsys.readouterr().out
    assert [p.name for p in Gallery().people()] == ["Dana"]
    assert main(["doctor", "--json"]) == 0
    capsys.readouterr()
    Gallery().add("Finn", _unit(3), ["f"])


def test_damaged_gallery_without_a_good_generation(facelens_home, capsys):
    Gallery().add("Dana", _unit(1), ["d"])
    path = facelens_home / "gallery" / "gallery.npz"
    raw = bytearray(path.read_bytes())
    raw[200] ^= 0xFF  # one flipped byte: the checksum catches it
    path.write_bytes(bytes(raw))
    for argv in (["gallery", "list"], ["identify", str(REPO / "tools/data/examples/group.jpg")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "damaged" in err and "gallery repair" in err and "unexpected" not in err
    assert main(["gallery", "repair"]) == 0
    assert "starts empty" in capsys.readouterr().out
    assert Gallery().people() == [] and not list((facelens_home / "gallery").glob("gallery.npz*[!k]"))


def test_seal_detects_change_and_accepts_old_files(tmp_path):
    p = tmp_path / "x.bin"
    atomic.write_sealed(p, b"hello")
    assert atomic.read_sealed(p) == b"hello"
    p.write_bytes(p.read_bytes().replace(b"hello", b"jello"))
    with pytest.raises(atomic.DamagedError, match="checksum"):
        atomic.read_sealed(p)
    p.write_bytes(b"written by an older version")  # no seal: returned whole for the parser to judge
    assert atomic.read_sealed(p) == b"written by an older version"


def test_exemplar_add_killed_at_its_commit(facelens_home, astronaut_jpg, hopper_jpg):
    from facelens.tools.exemplars import ExemplarStore

    ExemplarStore(builtins=False).add(hopper_jpg, "neutral")
    killed_at("store.npz", f"""
        from facelens.tools.exemplars import ExemplarStore
        ExemplarStore(builtins=False).add({str(astronaut_jpg)!r}, "happy")
    """, facelens_home)
    root = facelens_home / "exemplars"
    assert (root / "ex2.jpg").exists()  # the crop was written; the commit never happened
    store = ExemplarStore(builtins=False)
    assert [e.id for e in store.list()] == ["ex1"]
    assert not (root / "ex2.jpg").exists() and not [p for p in root.iterdir() if p.name.endswith(".tmp")]
    assert store.add(astronaut_jpg, "happy").id == "ex2"  # adds and removes work again
    store.remove("ex1")
    assert [e.id for e in ExemplarStore(builtins=False).list()] == ["ex2"]


def test_old_inconsistent_exemplar_store_is_recovered(facelens_home, astronaut_jpg):
    """Before one-file commits, an add killed between its two renames left one vector too many."""
    from facelens.tools.exemplars import ExemplarStore

    root = facelens_home / "exemplars"
    root.mkdir(parents=True)
    meta = {"next_id": 2, "exemplars": [{"id": "ex1", "label": "happy", "note": None, "compound_emotions": [], "builtin": False, "source": "a.jpg", "added": None}]}
    (root / "index.json").write_text(json.dumps(meta))
    np.save(root / "vectors.npy", np.vstack([_unit(1), _unit(2)]))
    (root / "ex1.jpg").write_bytes(astronaut_jpg.read_bytes())
    (root / "ex2.jpg").write_bytes(astronaut_jpg.read_bytes())  # the crop of the half-done add
    store = ExemplarStore(builtins=False)
    assert [e.id for e in store.list()] == ["ex1"]
    assert not (root / "index.json").exists() and not (root / "vectors.npy").exists() and not (root / "ex2.jpg").exists()
    assert store.add(astronaut_jpg, "happy").id == "ex2"
    store.remove("ex1")


def test_cache_write_killed_leaves_nothing_behind(facelens_home, group_jpg):
    from facelens.tools.scene import analyze_image

    code = f"""
        import os
        from pathlib import Path
        real = os.replace
        def replace(src, dst, *a, **k):
            if str(dst).endswith('.npz') and '/cache/' in str(dst):
                os.kill(os.getpid(), 9)
            return real(src, dst, *a, **k)
        os.replace = replace
        from facelens.tools.scene import analyze_image
        analyze_image({str(group_jpg[0])!r})
    """
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**os.environ, "FACELENS_HOME": str(facelens_home)}, cwd=REPO, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL
    cache = facelens_home / "cache"
    assert [p for p in cache.iterdir() if p.name.endswith(".tmp")] and not list(cache.glob("*.npz"))
    scene = analyze_image(group_jpg[0])
    assert len(scene.faces) == 4 and not scene.cached
    assert [p.suffix for p in cache.iterdir()] == [".npz"]  # the dead writer's temp file is gone


def _enrol_or_remove(args):
    home, action, seed = args
    os.environ["FACELENS_HOME"] = home
    g = Gallery()
    for i in range(8):
        if action == "add":
            g.add(f"new{i}", _unit(100 + seed * 10 + i), ["x"])
        else:
            g.remove(f"old{i}")


def test_concurrent_enrols_and_removes_lose_nothing(facelens_home):
    import multiprocessing as mp

    for i in range(8):
        Gallery().add(f"old{i}", _unit(200 + i), ["o"])
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_enrol_or_remove, [(str(facelens_home), "add", 1), (str(facelens_home), "remove", 2)])
    assert sorted(p.name for p in Gallery().people()) == [f"new{i}" for i in range(8)]
    assert Gallery().status() is None
    for i in range(8):
        assert not _files_holding(facelens_home / "gallery", _unit(200 + i).tobytes())


def test_a_gallery_deleted_by_hand_leaves_no_generation_behind(facelens_home):
    Gallery().add("Dana", _unit(1), ["d"])
    Gallery().add("Eve", _unit(2), ["e"])
    (facelens_home / "gallery" / "gallery.npz").unlink()  # "delete it to start an empty gallery"
    assert Gallery().people() == []
    assert not (facelens_home / "gallery" / "gallery.npz.prev").exists()
    Gallery().add("Finn", _unit(3), ["f"])
    assert [p.name for p in Gallery().people()] == ["Finn"]
    assert not _files_holding(facelens_home / "gallery", _unit(1).tobytes())
