"""One interface to the identity gallery, whichever store holds the vectors, and what works on any store.

Two stores, in the registry :data:`STORES`: ``faiss`` (:class:`facelens.tools.identity_faiss.FaissGallery`,
the default: one crash-safe file under FACELENS_HOME) and ``milvus``
(:class:`facelens.tools.identity_milvus.MilvusGallery`: Milvus Lite, an embedded file, or a Milvus
server / cluster shared by many machines). Callers get a store from :func:`open_gallery` and never
need to know which runs; the choice is FACELENS_IDENTITY_STORE (``identity_store`` in config.yaml).
The stores share their types through :mod:`facelens.tools.identity_base` and import nothing from here.

Beside it, what works on any store: :func:`lookup`, :func:`enroll` (from photos, all or nothing),
:func:`face_for_enrollment` and :func:`import_folder`. :func:`migrate` moves a gallery from one store
to the other without loss (same names, vectors, sources and enrolment times), checks the copy, and
only then empties the source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facelens.tools import config
from facelens.tools.errors import GalleryError, InputError, NotFoundError
from facelens.tools.identity_base import DIM, Entry, IdentityStore  # noqa: F401 (IdentityStore re-exported)
from facelens.tools.identity_faiss import FaissGallery
from facelens.tools.names import check_name
from facelens.tools.schema import IdentityMatch


def _milvus(threshold: float | None) -> IdentityStore:
    from facelens.tools.identity_milvus import MilvusGallery  # pymilvus and its server only when chosen

    return MilvusGallery(threshold=threshold)


#: the registry of identity stores: name -> factory taking the open-set threshold (None: the embedding's)
STORES: dict[str, Callable[[float | None], IdentityStore]] = {
    "faiss": lambda threshold: FaissGallery(threshold=threshold),
    "milvus": _milvus,
}


def _check_store(kind: str, given: str | None) -> None:
    if kind not in STORES:
        raise InputError(f"Unknown identity store '{given}'.", hint=f"Use one of: {', '.join(STORES)}.")


def open_gallery(threshold: float | None = None, *, store: str | None = None) -> IdentityStore:
    """The identity gallery this machine is configured for.

    Args:
        threshold: open-set L2 distance threshold (default: that of the gallery's embedding, tools/embedders.py:
            dlib 0.53 or FACELENS_IDENTITY_THRESHOLD, SFace 1.05 or FACELENS_SFACE_THRESHOLD).
        store: ``faiss`` or ``milvus`` (default: FACELENS_IDENTITY_STORE / config.yaml, else faiss).

    Raises:
        ConfigError: an unknown store, or a bad Milvus URI. DependencyError: pymilvus is missing.
        GalleryError: the Milvus server cannot be reached.
    """
    kind = (store or config.identity_store()).strip().lower()
    _check_store(kind, store)
    return STORES[kind](None if threshold is None else float(threshold))


@dataclass(frozen=True)
class Migration:
    """What :func:`migrate` moved."""

    source: str  # "faiss" or "milvus"
    target: str
    source_location: str  # where the vectors were
    target_location: str  # where they are now
    people: int  # people moved
    embeddings: int  # embeddings moved
    verified: bool  # the target read back with the same names, sources, times and vectors
    source_cleared: bool  # the source was emptied after the check (False with keep_source)

    def to_dict(self) -> dict:
        return asdict(self)


def _row_keys(entries: Sequence[Entry], vectors: np.ndarray) -> list[tuple]:
    """One key per embedding that does not depend on ids: (name, source, time, vector bytes)."""
    vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
    return [(e.name, e.source, round(float(e.added), 6), v.tobytes()) for e, v in zip(entries, vectors)]


def migrate(to: str, *, keep_source: bool = False) -> Migration:
    """Move the gallery from the other store into ``to`` (``faiss`` or ``milvus``).

    The copy is read back and compared (names, sources, enrolment times, vectors) before the source is
    emptied, so a failure at any point loses nothing. It is resumable and idempotent: embeddings the
    target already holds (the same name, source, time and vector, as a migration killed part way, or
    one run with ``--keep-source``, left them) are not copied again, so running it again after any
    interruption finishes the job without duplicates, in either direction. A target holding
    embeddings that are not in the source is refused: merging two galleries is not a migration.

    Raises:
        InputError: unknown store, or the target holds other embeddings. NotFoundError: both are empty.
        GalleryError: the copy did not read back the same (the source is left untouched).
    """
    from collections import Counter

    to = str(to).strip().lower()
    _check_store(to, to)
    source_kind = next(k for k in STORES if k != to)  # the other store
    src = open_gallery(store=source_kind)
    dst = open_gallery(store=to)
    try:
        entries, vectors = src.export()
        have_entries, have_vectors = dst.export()
        if not entries:
            done = (
                f" The {to} gallery holds {len(have_entries)} embedding(s): an earlier migration finished."
                if have_entries
                else ""
            )
            raise NotFoundError(f"The {source_kind} gallery ({src.describe()}) is empty: nothing to migrate.{done}")
        want = Counter(_row_keys(entries, vectors))
        have = Counter(_row_keys(have_entries, have_vectors))
        foreign = have - want
        if foreign:
            raise InputError(
                f"The {to} gallery ({dst.describe()}) already holds {sum(foreign.values())} embedding(s) that are not in the "
                f"{source_kind} gallery; migrating into it would mix two galleries.",
                hint=f"Empty it first (facelens gallery remove NAME with FACELENS_IDENTITY_STORE={to}), or point it at a new location.",
            )
        missing = want - have  # what an interrupted run did not copy yet
        todo = []
        for i, k in enumerate(_row_keys(entries, vectors)):
            if missing[k] > 0:
                missing[k] -= 1
                todo.append(i)
        if todo:
            dst.add_entries([entries[i] for i in todo], vectors[todo], embedding=src.embedding)
        got = Counter(_row_keys(*dst.export()))
        verified = got == want
        if not verified:
            raise GalleryError(
                f"The copy in the {to} gallery did not read back the same ({sum(got.values())} of {sum(want.values())} embeddings); "
                f"the {source_kind} gallery was left as it was.",
                hint=f"Check {dst.describe()}, empty it, and run the migration again.",
            )
        people = len({e.name for e in entries})
        cleared = False
        if not keep_source:
            src.clear()
            cleared = True
        return Migration(source_kind, to, src.describe(), dst.describe(), people, len(entries), verified, cleared)
    finally:
        src.close()
        dst.close()


# --- on any store ---------------------------------------------------------------------------


def lookup(vectors: np.ndarray, gallery=None) -> list[IdentityMatch | None]:
    """Identify embeddings against the configured gallery (or the one given)."""
    return (gallery if gallery is not None else open_gallery()).match(vectors)


# --- enrolment from images --------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    """Result of enrolling one image."""

    name: str
    image: str
    box: tuple[int, int, int, int]  # the face used, in the image's pixels
    entry_id: int

    def to_dict(self) -> dict:
        return {"name": self.name, "image": self.image, "box": list(self.box), "entry_id": self.entry_id}


def face_for_enrollment(
    source, *, face: int | None = None, detector: str | None = None, embedding: str | None = None
) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Find the one face to enrol in a photo or a tight face crop; return its box and embedding.

    Uses the same detector as every other command (the default finds tight crops and frame-filling
    faces itself), so a face that can be enrolled is also found when it is asked about later.

    Args:
        source: image path or bytes.
        face: 1-based face number (left to right) when the photo has several faces.
        detector: detector name (default: the faces module default).
        embedding: "sface" or "dlib" (default: the configured embedder's, tools/embedders.py).

    Raises:
        NoFaceError: no face, or several faces and no ``face`` given.
    """
    from facelens.tools import faces as F
    from facelens.tools.errors import NoFaceError
    from facelens.tools.images import load_image

    img = load_image(source)
    rgb = img.rgb
    label = img.source or "the image"
    dets = F.detect_faces(rgb, detector or F.DEFAULT_DETECTOR)
    if not dets:
        raise NoFaceError(f"No face found in {label}.", hint="Use a clear, frontal photo of the person's face.")
    dets.sort(key=lambda d: (d.box[0] + d.box[2] / 2.0, d.box[1]))
    if face is not None:
        if not 1 <= face <= len(dets):
            raise NoFaceError(f"{label} has {len(dets)} face(s); there is no face {face}.")
        chosen = dets[face - 1]
    elif len(dets) > 1:
        raise NoFaceError(
            f"{label} has {len(dets)} faces; enrolment needs exactly one.",
            hint="Say which with --face N (1 = leftmost; `facelens analyze` shows the numbers).",
        )
    else:
        chosen = dets[0]
    from facelens.tools import embedders

    found, shapes = F.with_landmarks(rgb, [chosen])
    vec = embedders.vectors(rgb, found, shapes, embedding or embedders.configured()[0])[0]
    return chosen.box, vec


def enroll(
    name: str, images: Sequence[str | Path], *, face: int | None = None, gallery=None, detector: str | None = None
) -> list[Enrolled]:
    """Enrol a person from one or more images (all or nothing: any bad image enrols none).

    The vectors are of the gallery's embedding (an empty gallery takes the configured one).

    Raises:
        ImageError, NoFaceError: for the first image that cannot be used (nothing is written).
        GalleryError: the embedder is set to another embedding than the gallery's.
    """
    from facelens.tools import embedders

    name = check_name(name)
    if not images:
        raise InputError("Give at least one image of the person.")
    if gallery is None:
        gallery = open_gallery()
    embedding = embedders.for_gallery(gallery.embedding, gallery.describe())
    boxes, vecs = [], []
    for path in images:
        box, vec = face_for_enrollment(path, face=face, detector=detector, embedding=embedding)
        boxes.append(box)
        vecs.append(vec)
    name, ids = gallery.add_person(name, np.vstack(vecs), [Path(str(p)).name for p in images], embedding=embedding)
    return [Enrolled(name, str(p), b, i) for p, b, i in zip(images, boxes, ids)]


_FILE_NAME = re.compile(r"^(?P<name>.+?)_\d+$")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def import_folder(folder: str | Path) -> dict[str, list[Path]]:
    """Group the images of a folder by person: one sub-folder per person, or First_Last_0001.jpg files."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(
            f"{root} is not a folder.",
            hint="Give a folder with one sub-folder per person, or files named First_Last_0001.jpg.",
        )
    groups: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            groups[sub.name.replace("_", " ")] = files
    for f in sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        m = _FILE_NAME.match(f.stem)
        if m:
            groups.setdefault(m.group("name").replace("_", " "), []).append(f)
    if not groups:
        raise InputError(
            f"No person images found in {root}.",
            hint="Use one sub-folder per person, or files named First_Last_0001.jpg.",
        )
    return groups
