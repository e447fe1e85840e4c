"""One interface to the identity gallery, whichever store holds the vectors.

Two implementations: :class:`FaissGallery` (the default: one crash-safe file under FACELENS_HOME,
``facelens.tools.identity.Gallery``) and ``facelens.tools.identity_milvus.MilvusGallery`` (Milvus Lite,
an embedded file, or a Milvus server / cluster shared by many machines). Callers get a store from
:func:`open_gallery` and never need to know which runs; the choice is FACELENS_IDENTITY_STORE
(``identity_store`` in config.yaml).

:func:`migrate` moves a gallery from one store to the other without loss (same names, vectors,
sources and enrolment times), checks the copy, and only then empties the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from facelens.tools import config
from facelens.tools.errors import GalleryError, InputError, NotFoundError
from facelens.tools.identity import DIM, Entry, Gallery, Person, Removal
from facelens.tools.names import name_key
from facelens.tools.schema import IdentityMatch


@runtime_checkable
class IdentityStore(Protocol):
    """What every identity gallery does (FAISS file or Milvus)."""

    kind: str  # "faiss" or "milvus"
    threshold: float  # open-set L2 distance: farther than this is "unknown" (default: the embedding's)
    embedding: str | None  # "dlib" or "sface": what made the vectors (none recorded = dlib); None when empty
    damaged: str | None  # what is wrong with the store when a last good copy is being read instead

    def canonical(self, name: str) -> str | None: ...  # the enrolled spelling of a name, or None
    def add_person(self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None) -> tuple[str, list[int]]: ...
    def add(self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None) -> list[int]: ...
    def remove_person(self, name: str) -> Removal: ...
    def remove(self, name: str) -> int: ...
    def people(self) -> list[Person]: ...
    def match(self, vectors: np.ndarray) -> list[IdentityMatch | None]: ...
    def __len__(self) -> int: ...
    def status(self) -> str | None: ...  # None when sound, else what is wrong
    def repair(self) -> str: ...
    def export(self) -> tuple[list[Entry], np.ndarray]: ...  # every entry and its vector, for migration
    def add_entries(self, entries: Sequence[Entry], vectors: np.ndarray, *, embedding: str | None = None) -> int: ...  # bulk, keeping names/sources/times
    def clear(self) -> int: ...  # delete everything (after a migration); returns how many
    def describe(self) -> str: ...  # where the vectors are, for messages
    def close(self) -> None: ...


class FaissGallery(Gallery):
    """The FAISS file gallery (unchanged behaviour) with the store interface's bulk operations."""

    kind = "faiss"

    def export(self) -> tuple[list[Entry], np.ndarray]:
        self._refresh()
        return list(self._entries), self._vectors.copy()

    def add_entries(self, entries: Sequence[Entry], vectors: np.ndarray, *, embedding: str | None = None) -> int:
        """Add entries in one locked write, keeping their names, sources and enrolment times (new ids)."""
        from facelens.tools.identity import _check_embedding

        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if len(entries) != len(vectors):
            raise InputError("Each embedding needs one entry.")
        with self._lock():
            self._stamp = None
            self._refresh()
            self._writable()
            embedding = _check_embedding(self.embedding, embedding, self.describe())
            spelling = {name_key(e.name): e.name for e in self._entries}
            new = []
            for i, e in enumerate(entries):
                name = spelling.setdefault(name_key(e.name), e.name)  # as enrolled: names from before a rule changed move too
                new.append(Entry(self._next_id + i, name, str(e.source), float(e.added)))
            self._write(np.vstack([self._vectors, vectors]), self._entries + new, self._next_id + len(new), embedding=embedding)
        return len(new)

    def clear(self) -> int:
        """Delete every entry from both generations."""
        with self._lock():
            self._stamp = None
            self._refresh()
            self._writable()
            n = len(self._entries)
            self._write(np.zeros((0, DIM), dtype=np.float32), [], self._next_id, keep_previous=False)
        return n

    def describe(self) -> str:
        return f"FAISS file {self.path}"

    def close(self) -> None:
        """Nothing to release: the file is read on use."""


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
    if kind not in config.IDENTITY_STORES:
        raise InputError(f"Unknown identity store '{store}'.", hint=f"Use one of: {', '.join(config.IDENTITY_STORES)}.")
    threshold = None if threshold is None else float(threshold)
    if kind == "faiss":
        return FaissGallery(threshold=threshold)
    from facelens.tools.identity_milvus import MilvusGallery

    return MilvusGallery(threshold=threshold)


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
    if to not in config.IDENTITY_STORES:
        raise InputError(f"Unknown identity store '{to}'.", hint=f"Use one of: {', '.join(config.IDENTITY_STORES)}.")
    source_kind = "faiss" if to == "milvus" else "milvus"
    src = open_gallery(store=source_kind)
    dst = open_gallery(store=to)
    try:
        entries, vectors = src.export()
        have_entries, have_vectors = dst.export()
        if not entries:
            done = f" The {to} gallery holds {len(have_entries)} embedding(s): an earlier migration finished." if have_entries else ""
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
