"""The identity gallery: who is who, by 128-d face embeddings (SFace or dlib's), searched with FAISS.

Storage: one file, ``FACELENS_HOME/gallery/gallery.npz``, holding the vectors, their metadata
(JSON) and, for large galleries, the serialised FAISS index, sealed with a checksum
(``facelens.tools.atomic``). Every write takes an exclusive file lock, re-reads the latest gallery
and commits a new generation in one atomic rename; the previous one is kept as ``gallery.npz.prev``.
Two processes enrolling at once lose nothing; a crash mid-write leaves the old gallery intact and
its temp file is deleted at the next open; a damaged file is detected, read from the last good
generation with a warning, and restored with ``facelens gallery repair``. Removal rewrites both
generations without the person's vectors, so they are really gone.

Names are tidied once (Unicode NFKC, whitespace collapsed) and are unique without regard to case:
enrolling "alice" when "Alice" exists adds to Alice. Invisible, control and mixed-script names, and
new names that look like an enrolled one, are refused (tools/names.py).

The gallery records which embedding made its vectors (``embedding`` in its metadata; none recorded =
dlib, as every gallery before SFace) and refuses vectors of another (tools/embedders.py).

Matching is open-set: a face whose nearest enrolled embedding is farther than the threshold is
"unknown" (with its distance), never forced onto the nearest name.
"""

from __future__ import annotations


import io
import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelens.tools import config, embedders
from facelens.tools.atomic import DamagedError, Generations, remove_files
from facelens.tools.embedders import ThresholdByEmbedding
from facelens.tools.errors import InputError
from facelens.tools.names import RESERVED, check_name, look_alike, name_key, one_person, tidy  # noqa: F401 (re-exported)
from facelens.tools.schema import IdentityMatch

log = logging.getLogger(__name__)



def __getattr__(name: str) -> float:
    """``DEFAULT_THRESHOLD``: dlib's open-set L2 threshold, tuned on ../shared/data/faces/identity (see
    bench/identity_threshold.py), 0.53 unless FACELENS_IDENTITY_THRESHOLD says otherwise (read when used);
    each embedding has its own (tools/embedders.THRESHOLDS: SFace 1.05), a gallery uses its embedding's."""
    if name == "DEFAULT_THRESHOLD":
        return embedders.threshold("dlib")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: within one recording (same camera, light and person minutes apart) a face closer than this to a
#: track's mean dlib embedding continues that track (agent/sessions/ingest.py); a little looser than the
#: gallery's open-set threshold, which must also reject strangers photographed elsewhere (SFace's:
#: tools/embedders.TRACK_SAME_PERSON)
TRACK_SAME_PERSON = 0.55
#: galleries up to this size are searched exactly; bigger ones with an IVF index
EXACT_LIMIT = 50_000
DIM = 128


@dataclass(frozen=True)
class Entry:
    """One enrolled embedding."""

    id: int  # unique, never reused
    name: str  # the person
    source: str  # where it came from (file name, not the image itself)
    added: float  # unix time


@dataclass(frozen=True)
class Person:
    """A person in the gallery (for listing)."""

    name: str
    images: int  # number of enrolled embeddings
    sources: tuple[str, ...]
    added: float  # first enrolment time

    def to_dict(self) -> dict:
        return {"name": self.name, "images": self.images, "sources": list(self.sources), "added": self.added}


#: inverted lists an IVF query scans (see build_index for the measured trade-off)
NPROBE = 24


def build_index(vectors: np.ndarray, *, exact_limit: int = EXACT_LIMIT, nprobe: int | None = None):
    """A FAISS index chosen by gallery size: exact (flat L2) when small, IVF-SQ8 when large."""
    import faiss

    n = len(vectors)
    if n <= exact_limit:
        index = faiss.IndexFlatL2(DIM)
        if n:
            index.add(vectors)
        return index
    # ~2 sqrt(N) inverted lists of 8-bit scalar-quantised vectors: ~137 bytes per identity; a query
    # scans nprobe=24 lists. 1M identities on 2 cores (facelens bench identity): nprobe 16 -> recall@1
    # 0.982 at 0.26 ms, 24 -> 0.995 at 0.38 ms, 32 -> 0.996 at 0.50 ms; numpy brute force ~23-30 ms
    nlist = int(np.clip(2 * np.sqrt(n), 64, 8192))
    quantizer = faiss.IndexFlatL2(DIM)
    index = faiss.IndexIVFScalarQuantizer(quantizer, DIM, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2)
    rng = np.random.default_rng(0)
    sample = vectors[rng.choice(n, size=min(n, nlist * 40), replace=False)]
    index.train(sample)
    index.add(vectors)
    index.nprobe = nprobe or NPROBE
    return index


def search_index(index, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` (squared L2 distances, positions). A photo's few faces are searched on the
    calling thread: FAISS's OpenMP team waiting for busy cores made single searches of a 10k gallery
    take ~80 ms at p95 on a loaded 2-core machine; big batches keep every thread."""
    if len(queries) > 16:
        return index.search(queries, k)
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k)
    finally:
        faiss.omp_set_num_threads(before)


@dataclass(frozen=True)
class Removal:
    """What :meth:`Gallery.remove_person` deleted."""

    name: str  # the person's name as enrolled
    embeddings: int  # how many embeddings were deleted
    vectors: np.ndarray  # the deleted embeddings (to find the person's faces in other stores)


class Gallery(ThresholdByEmbedding):
    """A persistent, locked, atomically written face gallery.

    Args:
        path: the gallery file (default FACELENS_HOME/gallery/gallery.npz).
        threshold: open-set L2 distance threshold (None: the default of the gallery's embedding).
    """

    def __init__(self, path: str | Path | None = None, threshold: float | None = None) -> None:
        self.path = Path(path) if path else config.subdir("gallery") / "gallery.npz"
        self._threshold = None if threshold is None else float(threshold)
        self.store = Generations(self.path, "the gallery", "facelens gallery repair")
        #: what is wrong with the gallery file when the last good generation is being read instead
        self.damaged: str | None = None
        self._cleaned = False
        self._reset()

    @property
    def embedding(self) -> str | None:
        """The embedding of the vectors ("dlib" or "sface"; a gallery without a record is dlib), None when empty."""
        self._refresh()
        return (self._embedding or "dlib") if self._entries else None

    def _reset(self) -> None:
        self._embedding: str | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._vectors = np.zeros((0, DIM), dtype=np.float32)
        self._entries: list[Entry] = []
        self._next_id = 1
        self._index = None
        self.damaged = None

    # --- storage ------------------------------------------------------------------------

    def _lock(self, timeout: float = 60):
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path) + ".lock", timeout=timeout)

    def _clean_once(self) -> None:
        """Delete temp files of writes that were killed, unless a write is in flight right now."""
        if self._cleaned or not self.path.parent.is_dir():
            return
        from filelock import Timeout

        try:
            with self._lock(timeout=0):
                self.store.clean()
                # temp files of versions before the sealed store (each held a whole gallery)
                remove_files([p for p in self.path.parent.glob(".gallery-*.tmp") if p.is_file()])
        except Timeout:
            return  # another process is writing: its temp file is not stale
        self._cleaned = True

    @staticmethod
    def _parse(payload: bytes) -> tuple[np.ndarray, list[Entry], int, np.ndarray | None, str | None]:
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            vectors = np.asarray(data["vectors"], dtype=np.float32).reshape(-1, DIM)
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            index_bytes = np.asarray(data["index"], dtype=np.uint8) if "index" in data.files else None
        entries = [Entry(**e) for e in meta["entries"]]
        if len(entries) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors for {len(entries)} entries")
        return vectors, entries, int(meta.get("next_id", len(entries) + 1)), index_bytes, meta.get("embedding")

    def _refresh(self) -> None:
        """Re-read the file if another process changed it."""
        self._clean_once()
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if self._stamp is not None or self._entries:
                self._reset()
            return
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        loaded = self.store.load(self._parse)
        if loaded.value is None:
            self._reset()
            return
        vectors, entries, next_id, index_bytes, embedding = loaded.value  # type: ignore[misc]
        self._vectors, self._entries, self._next_id, self._embedding = vectors, entries, next_id, embedding
        self._index = None
        if index_bytes is not None and len(index_bytes):
            import faiss

            self._index = faiss.deserialize_index(index_bytes)
            if hasattr(self._index, "nprobe"):  # galleries saved by older versions get today's setting
                faiss.extract_index_ivf(self._index).nprobe = NPROBE
        self.damaged = loaded.problem
        self._stamp = stamp

    def _writable(self) -> None:
        if self.damaged:
            raise DamagedError(
                f"Nothing was changed: {self.damaged}",
                hint="Run `facelens gallery repair` to restore the last good generation, then try again.",
            )

    def _write(self, vectors: np.ndarray, entries: list[Entry], next_id: int, *, keep_previous: bool = True, embedding: str | None = None) -> None:
        index_bytes = np.zeros(0, dtype=np.uint8)
        index = build_index(vectors)
        if len(vectors) > EXACT_LIMIT:  # an IVF index is worth keeping; a flat one is rebuilt on load
            import faiss

            index_bytes = faiss.serialize_index(index)
        meta = {"version": 1, "next_id": next_id, "entries": [e.__dict__ for e in entries]}
        recorded = embedding or ((self._embedding or "dlib") if self._entries else None)
        if entries and recorded:
            meta["embedding"] = recorded  # an empty gallery records none: its next enrolment decides
        buf = io.BytesIO()
        np.savez(buf, vectors=vectors.astype(np.float32), meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), index=index_bytes)
        self.store.commit(buf.getvalue(), keep_previous=keep_previous)
        self._stamp = None
        self._refresh()
        self._index = index

    # --- public API ------------------------------------------------------------------------

    def canonical(self, name: str) -> str | None:
        """The enrolled spelling of a name (matched without regard to case), or None."""
        self._refresh()
        key = name_key(name)
        return next((e.name for e in self._entries if name_key(e.name) == key), None)

    def add_person(self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None) -> tuple[str, list[int]]:
        """Enrol embeddings for a person (locked read-modify-write).

        A name that matches an enrolled one without regard to case adds to that person. ``embedding``:
        which embedding made the vectors (default: the gallery's, or the configured one when empty);
        another than the gallery's is refused (GalleryError).

        Returns:
            (the person's name as enrolled, the new entry ids).
        """
        name = check_name(name)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if len(vectors) != len(sources):
            raise InputError("Each embedding needs one source label.")
        with self._lock():
            self._stamp = None
            self._refresh()
            self._writable()
            embedding = _check_embedding(self.embedding, embedding, f"the gallery ({self.path})")
            key = name_key(name)
            enrolled = next((e.name for e in self._entries if name_key(e.name) == key), None)
            if enrolled is None:
                look_alike(name, {e.name for e in self._entries})
            name = enrolled or name
            now = time.time()
            new = [Entry(self._next_id + i, name, str(s), now) for i, s in enumerate(sources)]
            self._write(np.vstack([self._vectors, vectors]), self._entries + new, self._next_id + len(new), embedding=embedding)
        return name, [e.id for e in new]

    def add(self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None) -> list[int]:
        """Enrol embeddings for a person (see :meth:`add_person`). Returns the new entry ids."""
        return self.add_person(name, vectors, sources, embedding=embedding)[1]

    def remove_person(self, name: str) -> Removal:
        """Delete every embedding and all metadata of exactly one person, from both generations.

        ``name`` is tidied like an enrolled name and matched without regard to case.

        Raises:
            NotFoundError: no one has that name. InputError: it matches several people (galleries
                written before names were unique) and none exactly.
        """
        key = name_key(name)
        with self._lock():
            self._stamp = None
            self._refresh()
            self._writable()
            target = one_person(name, sorted({e.name for e in self._entries if name_key(e.name) == key}))
            keep = [i for i, e in enumerate(self._entries) if e.name != target]
            gone = [i for i, e in enumerate(self._entries) if e.name == target]
            removed = self._vectors[gone].copy()
            self._write(self._vectors[keep], [self._entries[i] for i in keep], self._next_id, keep_previous=False)
        return Removal(name=target, embeddings=len(gone), vectors=removed)

    def _both_generations(self) -> tuple[np.ndarray, list[Entry]]:
        """Vectors and entries of the current file followed by those of the previous generation."""
        try:
            prev = self.store.load_previous(self._parse)
        except DamagedError:
            prev = None  # a damaged previous generation is rewritten by the next erasure from the current one
        if prev is None:
            return self._vectors, list(self._entries)
        return np.vstack([self._vectors, prev[0]]), list(self._entries) + list(prev[1])

    def find_person(self, name: str) -> Removal:
        """What :meth:`erase` would delete (the person's embeddings in either generation), deleting nothing.

        Raises:
            NotFoundError: neither generation holds that name. InputError: it matches several people.
        """
        self._refresh()
        vectors, entries = self._both_generations()
        key = name_key(name)
        target = one_person(name, sorted({e.name for e in entries if name_key(e.name) == key}))
        found = np.unique(np.asarray([v for v, e in zip(vectors, entries) if e.name == target], dtype=np.float32).reshape(-1, DIM), axis=0)
        return Removal(name=target, embeddings=len(found), vectors=found)

    def erase(self, name: str) -> Removal:
        """Delete a person from both generations, also when only the previous one still holds them
        (a migration or removal killed between its two writes, a copy kept by ``--keep-source``).

        Raises:
            NotFoundError: neither generation holds that name. InputError: it matches several people.
        """
        key = name_key(name)
        with self._lock():
            self._stamp = None
            self._refresh()
            self._writable()
            vectors, entries = self._both_generations()
            target = one_person(name, sorted({e.name for e in entries if name_key(e.name) == key}))
            keep = [i for i, e in enumerate(self._entries) if e.name != target]
            removed = np.unique(np.asarray([v for v, e in zip(vectors, entries) if e.name == target], dtype=np.float32).reshape(-1, DIM), axis=0)
            # both generations are rewritten from what stays (a damaged or stale previous one too)
            self._write(self._vectors[keep], [self._entries[i] for i in keep], self._next_id, keep_previous=False)
        return Removal(name=target, embeddings=len(removed), vectors=removed)

    def remove(self, name: str) -> int:
        """Delete every embedding and all metadata of a person. Returns how many were removed."""
        return self.remove_person(name).embeddings

    def describe(self) -> str:
        """Where the vectors are, for messages."""
        return f"FAISS file {self.path}"

    def repair(self) -> str:
        """Restore the last good generation over a damaged gallery file (or start empty). Returns what was done."""
        with self._lock():
            message = self.store.repair(self._parse)
            self._reset()
        return message

    def status(self) -> str | None:
        """None when the gallery file is sound or absent, else what is wrong with it."""
        return self.store.status(self._parse)

    def people(self) -> list[Person]:
        """Everyone enrolled, by name."""
        self._refresh()
        by: dict[str, list[Entry]] = {}
        for e in self._entries:
            by.setdefault(e.name, []).append(e)
        return [
            Person(n, len(es), tuple(e.source for e in es), min(e.added for e in es))
            for n, es in sorted(by.items(), key=lambda kv: kv[0].casefold())
        ]

    def __len__(self) -> int:
        self._refresh()
        return len(self._entries)

    def search(self, vectors: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """k nearest entries per query: (L2 distances, entry positions); -1 where none."""
        self._refresh()
        q = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if not self._entries or not len(q):
            return np.full((len(q), k), np.inf), np.full((len(q), k), -1)
        if self._index is None:
            self._index = build_index(self._vectors)
        d2, idx = search_index(self._index, q, k)
        return np.sqrt(np.maximum(d2, 0)), idx

    def match(self, vectors: np.ndarray) -> list[IdentityMatch | None]:
        """Open-set identification of each embedding; None for all when the gallery is empty."""
        self._refresh()
        if not self._entries:
            return [None] * len(np.asarray(vectors).reshape(-1, DIM))
        dist, idx = self.search(vectors, k=1)
        out: list[IdentityMatch | None] = []
        for d, i in zip(dist[:, 0], idx[:, 0]):
            nearest = self._entries[int(i)].name if i >= 0 else None
            known = bool(i >= 0 and d <= self.threshold)
            out.append(
                IdentityMatch(
                    name=nearest if known and nearest else "unknown",
                    distance=round(float(d), 4),
                    known=known,
                    nearest=nearest,
                )
            )
        return out


def _check_embedding(recorded: str | None, given: str | None, where: str) -> str:
    """The embedding of vectors about to be added (``given``, else the gallery's or the configured one)."""
    from facelens.tools import embedders

    given = given or recorded or embedders.configured()[0]
    embedders.check_write(recorded, given, where)
    return given


def lookup(vectors: np.ndarray, gallery=None) -> list[IdentityMatch | None]:
    """Identify embeddings against the configured gallery (or the one given)."""
    from facelens.tools.identity_store import open_gallery

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


def face_for_enrollment(source, *, face: int | None = None, detector: str | None = None, embedding: str | None = None) -> tuple[tuple[int, int, int, int], np.ndarray]:
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


def enroll(name: str, images: Sequence[str | Path], *, face: int | None = None, gallery=None, detector: str | None = None) -> list[Enrolled]:
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
        from facelens.tools.identity_store import open_gallery

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
        raise InputError(f"{root} is not a folder.", hint="Give a folder with one sub-folder per person, or files named First_Last_0001.jpg.")
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
        raise InputError(f"No person images found in {root}.", hint="Use one sub-folder per person, or files named First_Last_0001.jpg.")
    return groups
