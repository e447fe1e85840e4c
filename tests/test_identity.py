"""The identity gallery: enrolment, open-set matching, removal, persistence, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np
import pytest

from facelens.tools import identity
from facelens.tools.errors import GalleryError, ImageError, InputError, NoFaceError, NotFoundError
from facelens.tools.identity import FaissGallery


def _unit(rng, n):
    v = rng.standard_normal((n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_enrol_identify_and_reject_unknown(astronaut_jpg, hopper_jpg, group_jpg):
    identity.enroll("Eileen Collins", [astronaut_jpg])
    g = FaissGallery()
    assert [p.name for p in g.people()] == ["Eileen Collins"]
    from facelens.tools.scene import analyze_image

    scene = analyze_image(group_jpg[0])
    names = [f.identity.name for f in scene.faces]
    # faces 2 and 4 are the astronaut (4 mirrored); Grace Hopper is never forced onto her name
    assert names == ["unknown", "Eileen Collins", "unknown", "Eileen Collins"]
    hopper = scene.faces[0].identity
    assert not hopper.known and hopper.distance > identity.DEFAULT_THRESHOLD and hopper.nearest == "Eileen Collins"


def test_tight_crop_enrols(astronaut, tmp_path):
    from tests.conftest import save

    tight = np.ascontiguousarray(astronaut[76:167, 175:266])  # the HOG box, no margin at all
    done = identity.enroll("Eileen", [save(tight, tmp_path / "tight.png", "PNG")])
    assert done[0].name == "Eileen"


def test_refuses_no_face_and_several_faces(tmp_path, group_jpg):
    from tests.conftest import save

    blank = save(np.full((200, 200, 3), 90, np.uint8), tmp_path / "blank.png", "PNG")
    with pytest.raises(NoFaceError, match="No face"):
        identity.enroll("X", [blank])
    with pytest.raises(NoFaceError, match="--face"):
        identity.enroll("X", [group_jpg[0]])
    done = identity.enroll("Grace", [group_jpg[0]], face=1)
    assert done[0].box[0] < 300
    with pytest.raises(NoFaceError, match="no face 9"):
        identity.enroll("X", [group_jpg[0]], face=9)
    assert [p.name for p in FaissGallery().people()] == ["Grace"]  # the failed enrolments wrote nothing


def test_bad_images_and_names(tmp_path, astronaut_jpg):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageError):
        identity.enroll("X", [astronaut_jpg, bad])  # all or nothing
    assert len(FaissGallery()) == 0
    for name in ["", "   ", "unknown", "x" * 101]:
        with pytest.raises(InputError):
            identity.enroll(name, [astronaut_jpg])


def test_removal_really_deletes_vectors():
    rng = np.random.default_rng(0)
    g = FaissGallery()
    a, b = _unit(rng, 3), _unit(rng, 2)
    g.add("Alice", a, ["a1", "a2", "a3"])
    g.add("Bob", b, ["b1", "b2"])
    assert g.remove("alice") == 3
    with np.load(g.path) as data:  # the file on disk no longer holds any of her vectors
        stored = data["vectors"]
        assert stored.shape == (2, 128)
        assert not np.isclose(stored[:, None, :], a[None, :, :]).all(-1).any()
        assert b"Alice" not in bytes(data["meta"])
    with pytest.raises(NotFoundError, match="gallery list"):
        g.remove("Alice")
    assert [m.name for m in FaissGallery().match(b)] == ["Bob", "Bob"]


def test_persistence_and_empty_gallery():
    rng = np.random.default_rng(1)
    assert FaissGallery().match(_unit(rng, 2)) == [None, None]
    v = _unit(rng, 1)
    FaissGallery().add("Carol", v, ["c"])
    fresh = FaissGallery()  # a new process would see the same
    m = fresh.match(v)[0]
    assert m.known and m.name == "Carol" and m.distance < 1e-3


def test_damaged_gallery_file_is_reported(facelens_home):
    g = FaissGallery()
    g.path.parent.mkdir(parents=True, exist_ok=True)
    g.path.write_bytes(b"garbage")
    with pytest.raises(GalleryError, match="damaged"):
        FaissGallery().people()


def test_crash_mid_write_leaves_old_gallery(monkeypatch):
    rng = np.random.default_rng(2)
    g = FaissGallery()
    g.add("Dana", _unit(rng, 1), ["d"])

    def boom(*a, **k):
        raise OSError("disk full")

    with monkeypatch.context() as m, pytest.raises(OSError):
        m.setattr(os, "replace", boom)  # the atomic writer's rename
        g.add("Eve", _unit(rng, 1), ["e"])
    assert [p.name for p in FaissGallery().people()] == ["Dana"]
    assert not [p for p in g.path.parent.iterdir() if p.name.startswith(".gallery-")]  # no temp left


def _enrol_many(args):
    home, who, seed = args
    os.environ["FACELENS_HOME"] = home
    rng = np.random.default_rng(seed)
    g = FaissGallery()
    for i in range(10):
        g.add(f"{who}{i}", _unit(rng, 1), [f"{who}{i}.jpg"])


def test_two_processes_enrolling_at_once_lose_nothing(facelens_home):
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_enrol_many, [(str(facelens_home), "p", 1), (str(facelens_home), "q", 2)])
    names = {p.name for p in FaissGallery().people()}
    assert names == {f"p{i}" for i in range(10)} | {f"q{i}" for i in range(10)}


def test_large_gallery_uses_ivf_with_high_recall():
    rng = np.random.default_rng(3)
    n = 60_000
    vecs = _unit(rng, n)
    index = identity.build_index(vecs)
    assert type(index).__name__ == "IndexIVFScalarQuantizer"
    src = rng.integers(0, n, 200)
    q = vecs[src] + rng.standard_normal((200, 128)).astype(np.float32) * 0.03
    _, idx = index.search(q / np.linalg.norm(q, axis=1, keepdims=True), 1)
    assert (idx[:, 0] == src).mean() >= 0.97


def test_import_folder_layouts(tmp_path, astronaut, hopper):
    from tests.conftest import save

    (tmp_path / "by_folder" / "Grace_Hopper").mkdir(parents=True)
    save(hopper, tmp_path / "by_folder" / "Grace_Hopper" / "1.jpg")
    flat = tmp_path / "flat"
    flat.mkdir()
    save(astronaut, flat / "Eileen_Collins_0001.jpg")
    save(astronaut[:, ::-1].copy(), flat / "Eileen_Collins_0002.jpg")
    assert identity.import_folder(tmp_path / "by_folder") == {
        "Grace Hopper": [tmp_path / "by_folder" / "Grace_Hopper" / "1.jpg"]
    }
    assert list(identity.import_folder(flat)) == ["Eileen Collins"]
    with pytest.raises(InputError):
        identity.import_folder(tmp_path / "missing")


def test_stores_come_from_one_registry_and_an_unknown_one_names_them(facelens_home):
    from facelens.tools import identity_store

    assert list(identity_store.STORES) == ["faiss", "milvus"]
    assert isinstance(identity.open_gallery(store="FAISS"), FaissGallery)
    with pytest.raises(InputError, match="Use one of: faiss, milvus"):
        identity.open_gallery(store="nope")
    with pytest.raises(InputError, match="Unknown identity store 'nope'"):
        identity_store.migrate("nope")


def test_stores_import_neither_the_registry_nor_the_facade():
    import subprocess
    import sys

    code = (
        "import sys; import facelens.tools.identity_faiss, facelens.tools.identity_milvus; "
        "print(sorted(m for m in ('facelens.tools.identity', 'facelens.tools.identity_store') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_check_embedding_refuses_another_embedding_than_the_gallery_records():
    assert identity.check_embedding(None, "dlib", "here") == "dlib"
    assert identity.check_embedding("sface", None, "here") == "sface"
    with pytest.raises(GalleryError):
        identity.check_embedding("dlib", "sface", "the gallery here")
