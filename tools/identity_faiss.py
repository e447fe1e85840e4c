"""The FAISS identity store: the gallery in one crash-safe file under FACELENS_HOME (the default store).

Storage: one file, ``FACELENS_HOME/gallery/gallery.npz``, holding the vectors, their metadata
(JSON) and, for large galleries, the serialised FAISS index, sealed with a checksum
(``facelens.tools.atomic``). Every write takes an exclusive file lock, re-reads the latest gallery
and commits a new generation in one atomic rename; the previous one is kept as ``gallery.npz.prev``.
Two processes enrolling at once lose nothing; a crash mid-write leaves the old gallery intact and
its temp file is deleted at the next open; a damaged file is detected, read from the last good
generation with a warning, and restored with ``facelens gallery repair``. Removal rewrites both
generations without the person's vectors, so they are really gone.

Matching is open-set: a face whose nearest enrolled embedding is farther than the threshold is
"unknown" (with its distance), never forced onto the nearest name. What the stores share is in
:mod:`facelens.tools.identity_base`; :func:`facelens.tools.identity_store.open_gallery` chooses the store.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from facelens.tools import config
from facelens.tools.atomic import DamagedError, Generations, remove_files
from facelens.tools.embedders import ThresholdByEmbedding
from facelens.tools.errors import InputError
from facelens.tools.identity_base import DIM, Entry, Person, Removal, check_embedding, open_set_match
from facelens.tools.names import check_name, look_alike, name_key, one_person
from facelens.tools.schema import IdentityMatch

#: galleries up to this size are searched exactly; bigger ones with an IVF index
EXACT_LIMIT = 50_000

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


class FaissGallery(ThresholdByEmbedding):
    """A persistent, locked, atomically written face gallery (the default identity store).

    Args:
        path: the gallery file (default FACELENS_HOME/gallery/gallery.npz).
        threshold: open-set L2 distance threshold (None: the default of the gallery's embedding).
    """

    kind = "faiss"

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

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the file lock with the latest generation read; a damaged gallery is refused (nothing changes)."""
        with self._lock():
            self._stamp = None
            self._refresh()
            self._writable()
            yield

    def _writable(self) -> None:
        if self.damaged:
            raise DamagedError(
                f"Nothing was changed: {self.damaged}",
                hint="Run `facelens gallery repair` to restore the last good generation, then try again.",
            )

    def _write(
        self,
        vectors: np.ndarray,
        entries: list[Entry],
        next_id: int,
        *,
        keep_previous: bool = True,
        embedding: str | None = None,
    ) -> None:
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
        np.savez(
            buf,
            vectors=vectors.astype(np.float32),
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            index=index_bytes,
        )
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

    def add_person(
        self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None
    ) -> tuple[str, list[int]]:
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
        with self._writing():
            embedding = check_embedding(self.embedding, embedding, f"the gallery ({self.path})")
            key = name_key(name)
            enrolled = next((e.name for e in self._entries if name_key(e.name) == key), None)
            if enrolled is None:
                look_alike(name, {e.name for e in self._entries})
            name = enrolled or name
            now = time.time()
            new = [Entry(self._next_id + i, name, str(s), now) for i, s in enumerate(sources)]
            self._write(
                np.vstack([self._vectors, vectors]), self._entries + new, self._next_id + len(new), embedding=embedding
            )
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
        with self._writing():
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
        found = np.unique(
            np.asarray([v for v, e in zip(vectors, entries) if e.name == target], dtype=np.float32).reshape(-1, DIM),
            axis=0,
        )
        return Removal(name=target, embeddings=len(found), vectors=found)

    def erase(self, name: str) -> Removal:
        """Delete a person from both generations, also when only the previous one still holds them
        (a migration or removal killed between its two writes, a copy kept by ``--keep-source``).

        Raises:
            NotFoundError: neither generation holds that name. InputError: it matches several people.
        """
        key = name_key(name)
        with self._writing():
            vectors, entries = self._both_generations()
            target = one_person(name, sorted({e.name for e in entries if name_key(e.name) == key}))
            keep = [i for i, e in enumerate(self._entries) if e.name != target]
            removed = np.unique(
                np.asarray([v for v, e in zip(vectors, entries) if e.name == target], dtype=np.float32).reshape(
                    -1, DIM
                ),
                axis=0,
            )
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
        return [
            open_set_match(self._entries[int(i)].name if i >= 0 else None, d, self.threshold)
            for d, i in zip(dist[:, 0], idx[:, 0])
        ]

    # --- bulk operations (migration between stores) ------------------------------------------

    def export(self) -> tuple[list[Entry], np.ndarray]:
        """Every entry and its vector."""
        self._refresh()
        return list(self._entries), self._vectors.copy()

    def add_entries(self, entries: Sequence[Entry], vectors: np.ndarray, *, embedding: str | None = None) -> int:
        """Add entries in one locked write, keeping their names, sources and enrolment times (new ids)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if len(entries) != len(vectors):
            raise InputError("Each embedding needs one entry.")
        with self._writing():
            embedding = check_embedding(self.embedding, embedding, self.describe())
            spelling = {name_key(e.name): e.name for e in self._entries}
            new = []
            for i, e in enumerate(entries):
                name = spelling.setdefault(
                    name_key(e.name), e.name
                )  # as enrolled: names from before a rule changed move too
                new.append(Entry(self._next_id + i, name, str(e.source), float(e.added)))
            self._write(
                np.vstack([self._vectors, vectors]), self._entries + new, self._next_id + len(new), embedding=embedding
            )
        return len(new)

    def clear(self) -> int:
        """Delete every entry from both generations."""
        with self._writing():
            n = len(self._entries)
            self._write(np.zeros((0, DIM), dtype=np.float32), [], self._next_id, keep_previous=False)
        return n

    def close(self) -> None:
        """Nothing to release: the file is read on use."""
