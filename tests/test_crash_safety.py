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
from facelens.tools.identity import FaissGallery

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
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, target, str(nth), textwrap.dedent(code)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]


def _unit(seed: int, n: int = 1) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


@pytest.mark.parametrize("target", ["gallery.npz", "gallery.npz.prev"])
def test_enrol_killed_at_a_rename(facelens_home, target):
    FaissGallery().add("Dana", _unit(1), ["d"])
    FaissGallery().add("Finn", _unit(3), ["f"])
    eve = _unit(2)
    np.save(facelens_home / "eve.npy", eve)
    killed_at(
        target,
        """
        import numpy as np
        from facelens.tools.identity import FaissGallery
        FaissGallery().add("Eve", np.load(os.environ["FACELENS_HOME"] + "/eve.npy"), ["e"])
    """,
        facelens_home,
    )
    folder = facelens_home / "gallery"
    assert [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # what the dead process left
    assert [p.name for p in FaissGallery().people()] == ["Dana", "Finn"]  # the old gallery, whole
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]  # deleted at the next open
    FaissGallery().add("Gus", _unit(4), ["g"])  # and writes work again
    FaissGallery().remove("Dana")
    assert not _files_holding(folder, eve.tobytes()) and not _files_holding(folder, _unit(1).tobytes())


@pytest.mark.parametrize("target", ["gallery.npz", "gallery.npz.prev"])
def test_remove_killed_at_a_rename_leaves_before_or_after(facelens_home, target):
    FaissGallery().add("Dana", _unit(1), ["d"])
    FaissGallery().add("Eve", _unit(2), ["e"])
    killed_at(target, "from facelens.tools.identity import FaissGallery; FaissGallery().remove('Eve')", facelens_home)
    assert [p.name for p in FaissGallery().people()] in (["Dana", "Eve"], ["Dana"])
    assert FaissGallery().status() is None
    if len(FaissGallery().people()) == 2:  # the removal never happened: running it again finishes it
        FaissGallery().remove("Eve")
    assert not _files_holding(facelens_home / "gallery", _unit(2).tobytes())


def test_old_versions_temp_file_is_removed(facelens_home):
    FaissGallery().add("Dana", _unit(1), ["d"])
    leftover = facelens_home / "gallery" / ".gallery-abc123.tmp"  # what enroll killed at its rename left before
    leftover.write_bytes((facelens_home / "gallery" / "gallery.npz").read_bytes())
    FaissGallery().people()
    assert not leftover.exists()


def test_truncated_gallery_uses_the_last_good_generation(facelens_home, capsys, caplog):
    FaissGallery().add("Dana", _unit(1), ["d"])
    FaissGallery().add("Eve", _unit(2), ["e"])
    path = facelens_home / "gallery" / "gallery.npz"
    path.write_bytes(path.read_bytes()[:300])
    # reading works from the previous generation, with a warning
    assert main(["gallery", "list"]) == 0
    out, err = capsys.readouterr()
    assert "Dana" in out and "damaged" in err and "facelens gallery repair" in err
    caplog.clear()
    assert [m.name for m in FaissGallery().match(_unit(1))] == ["Dana"]  # analyze, ask, identify: the same
    assert "Using the last good generation" in caplog.text and "gallery repair" in caplog.text
    # writing refuses (exit 2, a hint), and doctor fails
    with pytest.raises(GalleryError, match="damaged"):
        FaissGallery().add("Finn", _unit(3), ["f"])
    assert main(["gallery", "remove", "Dana"]) == 2
    assert "facelens gallery repair" in capsys.readouterr().err
    assert main(["doctor", "--json"]) == 1
    stores = next(c for c in json.loads(capsys.readouterr().out)["checks"] if c["name"] == "stores")
    assert not stores["ok"] and "gallery repair" in stores["hint"]
    # repair restores it; Eve's enrolment, made after that generation, is lost and says so
    assert main(["gallery", "repair"]) == 0
    assert "Restored the last good generation" in capsys.readouterr().out
    assert [p.name for p in FaissGallery().people()] == ["Dana"]
    assert main(["doctor", "--json"]) == 0
    capsys.readouterr()
    FaissGallery().add("Finn", _unit(3), ["f"])


def test_damaged_gallery_without_a_good_generation(facelens_home, capsys):
    FaissGallery().add("Dana", _unit(1), ["d"])
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
    assert FaissGallery().people() == [] and not list((facelens_home / "gallery").glob("gallery.npz*[!k]"))


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
    killed_at(
        "store.npz",
        f"""
        from facelens.tools.exemplars import ExemplarStore
        ExemplarStore(builtins=False).add({str(astronaut_jpg)!r}, "happy")
    """,
        facelens_home,
    )
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
    meta = {
        "next_id": 2,
        "exemplars": [
            {
                "id": "ex1",
                "label": "happy",
                "note": None,
                "compound_emotions": [],
                "builtin": False,
                "source": "a.jpg",
                "added": None,
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(meta))
    np.save(root / "vectors.npy", np.vstack([_unit(1), _unit(2)]))
    (root / "ex1.jpg").write_bytes(astronaut_jpg.read_bytes())
    (root / "ex2.jpg").write_bytes(astronaut_jpg.read_bytes())  # the crop of the half-done add
    store = ExemplarStore(builtins=False)
    assert [e.id for e in store.list()] == ["ex1"]
    assert (
        not (root / "index.json").exists() and not (root / "vectors.npy").exists() and not (root / "ex2.jpg").exists()
    )
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
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "FACELENS_HOME": str(facelens_home)},
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL
    cache = facelens_home / "cache"
    assert [p for p in cache.iterdir() if p.name.endswith(".tmp")] and not list(cache.glob("*.npz"))
    scene = analyze_image(group_jpg[0])
    assert len(scene.faces) == 4 and not scene.cached
    assert [p.suffix for p in cache.iterdir()] == [".npz"]  # the dead writer's temp file is gone


def _enrol_or_remove(args):
    home, action, seed = args
    os.environ["FACELENS_HOME"] = home
    g = FaissGallery()
    for i in range(8):
        if action == "add":
            g.add(f"new{i}", _unit(100 + seed * 10 + i), ["x"])
        else:
            g.remove(f"old{i}")


def test_concurrent_enrols_and_removes_lose_nothing(facelens_home):
    import multiprocessing as mp

    for i in range(8):
        FaissGallery().add(f"old{i}", _unit(200 + i), ["o"])
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(_enrol_or_remove, [(str(facelens_home), "add", 1), (str(facelens_home), "remove", 2)])
    assert sorted(p.name for p in FaissGallery().people()) == [f"new{i}" for i in range(8)]
    assert FaissGallery().status() is None
    for i in range(8):
        assert not _files_holding(facelens_home / "gallery", _unit(200 + i).tobytes())


def test_a_gallery_deleted_by_hand_leaves_no_generation_behind(facelens_home):
    FaissGallery().add("Dana", _unit(1), ["d"])
    FaissGallery().add("Eve", _unit(2), ["e"])
    (facelens_home / "gallery" / "gallery.npz").unlink()  # "delete it to start an empty gallery"
    assert FaissGallery().people() == []
    assert not (facelens_home / "gallery" / "gallery.npz.prev").exists()
    FaissGallery().add("Finn", _unit(3), ["f"])
    assert [p.name for p in FaissGallery().people()] == ["Finn"]
    assert not _files_holding(facelens_home / "gallery", _unit(1).tobytes())


# --- SIGKILL at every write of every command that writes (issue 25) ----------------------------------
# Each command runs once to count its writes (tools/atomic.py's FACELENS_FAULT_COUNT hook; SQLite
# statements and commits for ingest), then once per write N from a copy of the same starting state,
# killed (SIGKILL) at its Nth write. Each end state must be the old or the new one, with nothing
# duplicated, and `doctor`'s store check must agree that every store is sound.

import contextlib  # noqa: E402
import shutil  # noqa: E402

CLI = [sys.executable, "-m", "facelens.agent.cli"]

INGEST = textwrap.dedent(
    """
    import os, signal, sys
    from facelens.agent.sessions import store as session_store
    from facelens.agent.sessions import ingest as sessions
    kill_at, count_to = int(os.environ.get("FACELENS_FAULT_KILL_AT") or 0), os.environ.get("FACELENS_FAULT_COUNT")
    real, n = session_store._connect, [0]
    def point(what):
        n[0] += 1
        if count_to:
            with open(count_to, "a") as fh:
                fh.write(what + "\\n")
        if n[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    class Con:
        def __init__(self, con): self.con = con
        def __getattr__(self, name): return getattr(self.con, name)
        def __enter__(self):
            self.con.__enter__()
            return self
        def __exit__(self, *exc):
            if exc[0] is None:
                point("commit")
            return self.con.__exit__(*exc)
        def execute(self, sql, *a):
            if sql.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
                point(sql[:40])
            return self.con.execute(sql, *a)
        def executemany(self, sql, rows):
            point(sql[:40])
            return self.con.executemany(sql, rows)
    session_store._connect = lambda: Con(real())
    class Quiet:
        backend, model = "test", "none"
        def transcribe(self, audio):
            return type("T", (), {"segments": [], "text": ""})()
    sessions.ingest(sys.argv[1], transcriber=Quiet())
    """
)


def _run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACELENS_FAULT_")}
    cmd = [sys.executable, "-c", INGEST, *args[1:]] if args[0] == "INGEST" else CLI + args
    return subprocess.run(
        cmd, env={**clean, "FACELENS_HOME": str(home), **env}, cwd=REPO, capture_output=True, text=True, timeout=300
    )


@contextlib.contextmanager
def _at(home: Path):
    """This process reads ``home`` as FACELENS_HOME (to check what a killed command left)."""
    old = os.environ.get("FACELENS_HOME")
    os.environ["FACELENS_HOME"] = str(home)
    try:
        yield
    finally:
        os.environ["FACELENS_HOME"] = old or ""
        from facelens.tools.identity_milvus import close_all

        if "facelens.tools.identity_milvus" in sys.modules:
            close_all()


def _doctor_agrees(home: Path) -> None:
    from facelens.agent.cli.doctor import _stores

    with _at(home):
        assert "sound" in _stores()


def _sweep(tmp_path: Path, template: Path, args: list[str], check) -> int:
    """Count the writes of ``args``, then kill it at each; ``check(home, n)`` judges each end state."""
    count_home = tmp_path / "count"
    shutil.copytree(template, count_home)
    counted = tmp_path / "writes.txt"
    proc = _run(args, count_home, FACELENS_FAULT_COUNT=str(counted))
    assert proc.returncode == 0, proc.stderr[-2000:]
    writes = len(counted.read_text().splitlines())
    assert writes >= 1
    print(f"{' '.join(args[:2])}: {writes} write(s), killed at each")  # shown with pytest -s
    for n in range(1, writes + 1):
        home = tmp_path / f"killed-at-{n}"
        shutil.copytree(template, home)
        proc = _run(args, home, FACELENS_FAULT_KILL_AT=str(n))
        assert proc.returncode == -signal.SIGKILL, (n, proc.stderr[-2000:])
        check(home, n)
        _doctor_agrees(home)
    return writes


def _no_duplicates(entries, vectors) -> None:
    assert len({e.id for e in entries}) == len(entries)
    assert len({(e.name, v.tobytes()) for e, v in zip(entries, vectors)}) == len(entries)


def test_enrol_killed_at_every_write(tmp_path, hopper_jpg):
    template = tmp_path / "template"
    with _at(template):
        FaissGallery().add("Eileen", _unit(1), ["e.jpg"])

    def check(home: Path, n: int) -> None:
        with _at(home):
            g = FaissGallery()
            people = [(p.name, p.images) for p in g.people()]
            assert people in ([("Eileen", 1)], [("Eileen", 1), ("Grace Hopper", 1)]), (n, people)
            _no_duplicates(g._entries, g._vectors)
            assert not list((home / "gallery").glob(".*.tmp"))  # the next open cleaned what the dead writer left

    assert _sweep(tmp_path, template, ["enroll", "Grace Hopper", str(hopper_jpg)], check) >= 1


def test_apikey_create_killed_at_every_write(tmp_path):
    from facelens.agent.service.keys import KeyStore

    template = tmp_path / "template"
    with _at(template):
        KeyStore().create("alice", "admin")

    def check(home: Path, n: int) -> None:
        with _at(home):
            assert [k.name for k in KeyStore().list()] in (["alice"], ["alice", "bob"]), n

    _sweep(tmp_path, template, ["apikey", "create", "bob", "--role", "reader"], check)


def test_exemplar_add_killed_at_every_write(tmp_path, hopper_jpg):
    from facelens.tools.exemplars import ExemplarStore

    template = tmp_path / "template"
    template.mkdir()

    def check(home: Path, n: int) -> None:
        with _at(home):
            ids = [e.id for e in ExemplarStore(builtins=False).list()]
            assert ids in ([], ["ex1"]), (n, ids)
            ExemplarStore(builtins=False)._open()  # what any next command does first
            assert sorted(p.name for p in (home / "exemplars").glob("ex*.jpg")) == [
                f"{i}.jpg" for i in ids
            ]  # no orphan crop

    assert _sweep(tmp_path, template, ["exemplars", "add", str(hopper_jpg), "--label", "happy"], check) >= 2


def test_remove_killed_at_every_write(tmp_path, astronaut_jpg):
    from facelens.agent.sessions import store
    from facelens.agent.sessions.store import SessionRecord, TrackInfo
    from facelens.tools import identity
    from facelens.tools.exemplars import ExemplarStore

    her = identity.face_for_enrollment(astronaut_jpg)[1]  # the configured embedding's vector
    template = tmp_path / "template"
    with _at(template):
        FaissGallery().add("Alice", her[None], ["a.jpg"])
        FaissGallery().add("Bob", _unit(2), ["b.jpg"])  # the previous generation holds her too
        ExemplarStore().add(astronaut_jpg, "happy")
        people = [TrackInfo(track=1, name="Alice", first_seen=0, last_seen=1, seconds=1)]
        store.save(
            SessionRecord(
                session_id="call",
                source="call.mp4",
                created=store.now(),
                duration=2,
                has_video=True,
                has_audio=False,
                fps=2,
                people=people,
            ),
            [],
        )

    def gone(home: Path) -> bool:
        return not any(
            her.tobytes() in p.read_bytes() or b"Alice" in p.read_bytes() for p in home.rglob("*") if p.is_file()
        )

    def check(home: Path, n: int) -> None:
        with _at(home):
            names = [p.name for p in FaissGallery().people()]
        assert names in (["Alice", "Bob"], ["Bob"]), (n, names)
        if names == ["Bob"]:
            assert gone(home), n  # removed from the gallery only once every other store is clear
        proc = _run(["gallery", "remove", "Alice"], home)  # a rerun finishes what was killed
        assert proc.returncode == (0 if "Alice" in names else 2), proc.stderr
        assert gone(home), n
        with _at(home):
            assert [p.name for p in FaissGallery().people()] == ["Bob"] and [
                t.name for t in store.load("call").people
            ] == [None]

    assert _sweep(tmp_path, template, ["gallery", "remove", "Alice"], check) >= 3


def test_ingest_killed_at_every_write(tmp_path):
    from facelens.agent.sessions import store
    from facelens.eval import media

    audio = media.write_audio(tmp_path / "talk.wav", np.zeros(16000 * 2, np.float32))
    template = tmp_path / "template"
    template.mkdir()

    def check(home: Path, n: int) -> None:
        with _at(home):
            ids = store.ids()
            assert ids in ([], ["talk"]) and store.integrity() is None, n
        if ids:
            return  # killed after its commit: the session is whole (a write after it tidies the claim)
        proc = _run(["INGEST", str(audio)], home)  # the dead ingest's claim is taken over
        assert proc.returncode == 0, proc.stderr[-1000:]
        with _at(home):
            assert store.ids() == ["talk"], n  # once, not twice

    assert _sweep(tmp_path, template, ["INGEST", str(audio)], check) >= 2


def test_migrate_killed_at_every_write(tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from facelens.tools.identity_store import open_gallery

    template = tmp_path / "template"
    with _at(template):
        FaissGallery().add("Alice", _unit(31, 10), [f"a{i}" for i in range(10)])
        FaissGallery().add("Bob", _unit(32, 6), [f"b{i}" for i in range(6)])
        entries, vectors = open_gallery(store="faiss").export()
    want = sorted((e.name, e.source, v.tobytes()) for e, v in zip(entries, vectors))

    def rows(kind: str) -> list:
        es, vs = open_gallery(store=kind).export()
        _no_duplicates(es, vs)
        return sorted((e.name, e.source, v.tobytes()) for e, v in zip(es, vs))

    def check(home: Path, n: int) -> None:
        with _at(home):
            f, m = rows("faiss"), rows("milvus")
        assert f in ([], want) and m in ([], want) and want in (f, m), n  # all or nothing in each, nothing lost
        proc = _run(["gallery", "migrate", "--to", "milvus"], home)  # resumes
        assert proc.returncode in (0, 2) and "Traceback" not in proc.stderr, proc.stderr
        with _at(home):
            assert rows("faiss") == [] and rows("milvus") == want, n

    assert _sweep(tmp_path, template, ["gallery", "migrate", "--to", "milvus"], check) >= 2
