"""What every identity store shares: the entry types, the store interface, the embedding check and the
open-set decision.

Both stores (:mod:`facelens.tools.identity_faiss`, :mod:`facelens.tools.identity_milvus`) import this
module and nothing of each other or of :mod:`facelens.tools.identity_store`, which chooses between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from facelens.tools.schema import IdentityMatch

DIM = 128  # the length of an identity embedding (SFace's and dlib's)


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


@dataclass(frozen=True)
class Removal:
    """What a store's ``remove_person`` deleted."""

    name: str  # the person's name as enrolled
    embeddings: int  # how many embeddings were deleted
    vectors: np.ndarray  # the deleted embeddings (to find the person's faces in other stores)


@runtime_checkable
class IdentityStore(Protocol):
    """What every identity gallery does (FAISS file or Milvus)."""

    kind: str  # "faiss" or "milvus"
    threshold: float  # open-set L2 distance: farther than this is "unknown" (default: the embedding's)
    embedding: str | None  # "dlib" or "sface": what made the vectors (none recorded = dlib); None when empty
    damaged: str | None  # what is wrong with the store when a last good copy is being read instead

    def canonical(self, name: str) -> str | None: ...  # the enrolled spelling of a name, or None
    def add_person(
        self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None
    ) -> tuple[str, list[int]]: ...
    def add(
        self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None
    ) -> list[int]: ...
    def remove_person(self, name: str) -> Removal: ...
    def remove(self, name: str) -> int: ...
    def people(self) -> list[Person]: ...
    def match(self, vectors: np.ndarray) -> list[IdentityMatch | None]: ...
    def __len__(self) -> int: ...
    def status(self) -> str | None: ...  # None when sound, else what is wrong
    def repair(self) -> str: ...
    def export(self) -> tuple[list[Entry], np.ndarray]: ...  # every entry and its vector, for migration
    def add_entries(
        self, entries: Sequence[Entry], vectors: np.ndarray, *, embedding: str | None = None
    ) -> int: ...  # bulk, keeping names/sources/times
    def clear(self) -> int: ...  # delete everything (after a migration); returns how many
    def describe(self) -> str: ...  # where the vectors are, for messages
    def close(self) -> None: ...


def check_embedding(recorded: str | None, given: str | None, where: str) -> str:
    """The embedding of vectors about to be added (``given``, else the gallery's or the configured one).

    Raises:
        GalleryError: ``given`` is another embedding than the one the gallery ``where`` records.
    """
    from facelens.tools import embedders

    given = given or recorded or embedders.configured()[0]
    embedders.check_write(recorded, given, where)
    return given


def open_set_match(nearest: str | None, distance: float, threshold: float) -> IdentityMatch:
    """The open-set answer for one probe: its nearest enrolled person is who it is only within ``threshold``.

    Args:
        nearest: the nearest entry's name; None when the store found no entry.
        distance: the L2 distance to it (inf when none).
        threshold: the gallery's open-set threshold.
    """
    known = bool(nearest is not None and distance <= threshold)
    return IdentityMatch(
        name=nearest if known and nearest else "unknown",
        distance=round(float(distance), 4),
        known=known,
        nearest=nearest,
    )
