"""The identity gallery: who is who, by 128-d dlib face embeddings, searched with FAISS.

Storage: one file, ``FACELENS_HOME/gallery/gallery.npz``, holding the vectors, their metadata
(JSON) and, for large galleries, the serialised FAISS index. Every write takes an exclusive file
lock, re-reads the latest gallery, writes a temp file, fsyncs it and renames it over the old one:
two processes enrolling at once lose nothing, and a crash mid-write leaves the old gallery intact.
Removal rewrites the file without the person's vectors, so they are really gone.

Matching is open-set: a face whose nearest enrolled embedding is farther than the threshold is
"unknown" (with its distance), never forced onto the nearest name.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facelens.tools import config
from facelens.tools.errors import GalleryError, InputError, NotFoundError
from facelens.tools.schema import IdentityMatch

log = logging.getLogger(__name__)

#: open-set L2 threshold, tuned on ../shared/data/faces/identity (see bench/identity_threshold.py)
DEFAULT_THRESHOLD = float(os.environ.get("FACELENS_IDENTITY_THRESHOLD", 0.53))
#: galleries up to this size are searched exactly; bigger ones with an IVF index
EXACT_LIMIT = 50_000
DIM = 128
RESERVED = {"unknown"}


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


def check_name(name: str) -> str:
    """Validate and normalise a person's name."""
    clean = " ".join(str(name).split())
    if not clean:
        raise InputError("A person's name cannot be empty.")
    if clean.lower() in RESERVED:
        raise InputError(f"'{clean}' is reserved; choose another name.")
    if len(clean) > 100 or re.search(r"[\x00-\x1f]", clean):
        raise InputError("A name must be at most 100 printable characters.")
    return clean


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


class Gallery:
    """A persistent, locked, atomically written face gallery.

    Args:
        path: the gallery file (default FACELENS_HOME/gallery/gallery.npz).
        threshold: open-set L2 distance threshold.
    """

    def __init__(self, path: str | Path | None = None, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.path = Path(path) if path else config.subdir("gallery") / "gallery.npz"
        self.threshold = threshold
        self._stamp: tuple[int, int] | None = None
        self._vectors = np.zeros((0, DIM), dtype=np.float32)
        self._entries: list[Entry] = []
        self._next_id = 1
        self._index = None

    # --- storage ------------------------------------------------------------------------

    def _lock(self):
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.path) + ".lock", timeout=60)

    def _refresh(self) -> None:
        """Re-read the file if another process changed it."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if self._stamp is not None:
                self.__init__(self.path, self.threshold)  # type: ignore[misc]
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            with np.load(self.path, allow_pickle=False) as data:
                vectors = np.asarray(data["vectors"], dtype=np.float32)
                meta = json.loads(bytes(data["meta"]).decode("utf-8"))
                index_bytes = data["index"] if "index" in data.files else None
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise GalleryError(
                f"The gallery file {self.path} is damaged ({exc}).",
                hint="Restore it from a backup or delete it to start an empty gallery.",
            ) from exc
        self._vectors = vectors.reshape(-1, DIM)
        self._entries = [Entry(**e) for e in meta["entries"]]
        self._next_id = int(meta.get("next_id", len(self._entries) + 1))
        self._index = None
        if index_bytes is not None and len(index_bytes):
            import faiss

            self._index = faiss.deserialize_index(np.asarray(index_bytes, dtype=np.uint8))
            if hasattr(self._index, "nprobe"):  # galleries saved by older versions get today's setting
                faiss.extract_index_ivf(self._index).nprobe = NPROBE
        self._stamp = stamp

    def _write(self, vectors: np.ndarray, entries: list[Entry], next_id: int) -> None:
        index_bytes = np.zeros(0, dtype=np.uint8)
        index = build_index(vectors)
        if len(vectors) > EXACT_LIMIT:  # an IVF index is worth keeping; a flat one is rebuilt on load
            import faiss

            index_bytes = faiss.serialize_index(index)
        meta = {"version": 1, "next_id": next_id, "entries": [e.__dict__ for e in entries]}
        buf = io.BytesIO()
        np.savez(buf, vectors=vectors.astype(np.float32), meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), index=index_bytes)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".gallery-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(buf.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._stamp = None
        self._refresh()
        self._index = index

    # --- public API ------------------------------------------------------------------------

    def add(self, name: str, vectors: np.ndarray, sources: Sequence[str]) -> list[int]:
        """Enrol embeddings for a person (locked read-modify-write). Returns the new entry ids."""
        name = check_name(name)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if len(vectors) != len(sources):
            raise InputError("Each embedding needs one source label.")
        with self._lock():
            self._stamp = None
            self._refresh()
            now = time.time()
            new = [Entry(self._next_id + i, name, str(s), now) for i, s in enumerate(sources)]
            self._write(np.vstack([self._vectors, vectors]), self._entries + new, self._next_id + len(new))
        return [e.id for e in new]

    def remove(self, name: str) -> int:
        """Delete every embedding and all metadata of a person. Returns how many were removed."""
        with self._lock():
            self._stamp = None
            self._refresh()
            keep = [i for i, e in enumerate(self._entries) if e.name.casefold() != name.casefold()]
            removed = len(self._entries) - len(keep)
            if not removed:
                raise NotFoundError(
                    f"No one called '{name}' is in the gallery.",
                    hint="See who is enrolled with: facelens gallery list",
                )
            self._write(self._vectors[keep], [self._entries[i] for i in keep], self._next_id)
        return removed

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
        d2, idx = self._index.search(q, k)
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


def lookup(vectors: np.ndarray, gallery: Gallery | None = None) -> list[IdentityMatch | None]:
    """Identify embeddings against the default gallery (or the one given)."""
    return (gallery or Gallery()).match(vectors)


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


def face_for_enrollment(source, *, face: int | None = None, detector: str | None = None) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Find the one face to enrol in a photo or a tight face crop; return its box and embedding.

    Uses the same detector as every other command (the default finds tight crops and frame-filling
    faces itself), so a face that can be enrolled is also found when it is asked about later.

    Args:
        source: image path or bytes.
        face: 1-based face number (left to right) when the photo has several faces.
        detector: detector name (default: the faces module default).

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
    found, shapes = F.with_landmarks(rgb, [chosen])
    vec = F.embed(rgb, shapes)[0]
    return chosen.box, vec


def enroll(name: str, images: Sequence[str | Path], *, face: int | None = None, gallery: Gallery | None = None, detector: str | None = None) -> list[Enrolled]:
    """Enrol a person from one or more images (all or nothing: any bad image enrols none).

    Raises:
        ImageError, NoFaceError: for the first image that cannot be used (nothing is written).
    """
    name = check_name(name)
    if not images:
        raise InputError("Give at least one image of the person.")
    boxes, vecs = [], []
    for path in images:
        box, vec = face_for_enrollment(path, face=face, detector=detector)
        boxes.append(box)
        vecs.append(vec)
    gallery = gallery or Gallery()
    ids = gallery.add(name, np.vstack(vecs), [Path(str(p)).name for p in images])
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
