"""Erasure that erases: ``facelens gallery remove NAME`` deletes a person from every file under
FACELENS_HOME, and says what it deleted.

- the identity stores: every one present, not only the configured one (the FAISS file with its
  previous generation, both rewritten, and the Milvus Lite file, vacuumed), so a copy left by
  ``gallery migrate --keep-source`` or a killed migration goes too;
- the analysis cache: every cached analysis holding a face within the identity threshold of one of
  their embeddings (those entries hold that face's embedding);
- exemplars: the user's exemplars whose face is theirs (crop, embedding, metadata);
- sessions: their name on face tracks (the tracks stay, anonymous; SQLite's secure_delete and a
  VACUUM leave no old copy of the name in the file).

A store that cannot be checked is named in ``notes`` and the erasure is not ``complete``: the CLI
then exits non-zero, so an incomplete erasure is never reported as done.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from facelens.tools.errors import FacelensError, NotFoundError


@dataclass(frozen=True)
class Erasure:
    """What :func:`erase_person` deleted."""

    name: str  # the person, as enrolled
    embeddings: int  # gallery embeddings deleted (from both generations)
    cache_files: int  # cached analyses deleted (they held the person's face)
    exemplars: list[str] = field(default_factory=list)  # ids of the user's exemplars deleted
    session_tracks: list[str] = field(default_factory=list)  # "session:track" whose name was cleared
    notes: list[str] = field(default_factory=list)  # stores that could not be checked, and why
    stores: list[str] = field(
        default_factory=list
    )  # the identity stores ("faiss", "milvus") the embeddings were deleted from

    @property
    def complete(self) -> bool:
        """True when every store was checked (no notes)."""
        return not self.notes

    def to_dict(self) -> dict:
        return {**asdict(self), "complete": self.complete}

    def summary(self) -> str:
        where = (
            f"the {' and '.join(self.stores)} identity store{'s' if len(self.stores) > 1 else ''}"
            if self.stores
            else "the gallery"
        )
        parts = [f"{self.embeddings} embedding(s) and their metadata from {where} (and any previous generation)"]
        parts.append(f"{self.cache_files} cached analysis file(s) holding their face")
        parts.append(
            f"{len(self.exemplars)} exemplar(s) of their face"
            + (f" ({', '.join(self.exemplars)})" if self.exemplars else "")
        )
        parts.append(
            f"their name from {len(self.session_tracks)} session face track(s)"
            + (f" ({', '.join(self.session_tracks)})" if self.session_tracks else "")
        )
        text = f"Removed {self.name}: " + "; ".join(parts) + "."
        if self.notes:
            text += "\nThe erasure is INCOMPLETE: the stores below could not be checked and may still hold their data."
        return text + "".join(f"\nnote: {n}" for n in self.notes)


def _other_stores(configured: str) -> list[str]:
    """The identity stores other than ``configured`` that hold a file under FACELENS_HOME."""
    from facelens.tools import config

    gallery = config.home() / "gallery"
    out = []
    if configured != "faiss" and any((gallery / n).exists() for n in ("gallery.npz", "gallery.npz.prev")):
        out.append("faiss")
    if configured != "milvus":
        uri = config.milvus_uri()
        lite = None if "://" in uri else Path(uri).expanduser().resolve()
        if lite is not None and lite.exists() and config.home().resolve() in lite.parents:
            out.append("milvus")  # a Milvus server is not a file under FACELENS_HOME: its owner erases there
    return out


def erase_person(name: str, *, store: str | None = None) -> Erasure:
    """Delete a person's vectors and metadata from every store under FACELENS_HOME.

    The identity stores go last: first the person's embeddings are read from every identity store,
    then the stores that hold their face or name (cache, exemplars, sessions) are cleared with them,
    and only then the embeddings are deleted. A process killed at any point leaves the person
    enrolled, so running the removal again finds them and finishes every store.

    Raises:
        NotFoundError: no one of that name is enrolled in any identity store. InputError: the name
            matches several people. GalleryError: the configured gallery is damaged (repair it first).
    """
    from facelens.tools import config, embedders
    from facelens.tools.identity_store import open_gallery
    from facelens.tools.scene import forget_faces

    configured = (store or config.identity_store()).strip().lower()
    notes: list[str] = []
    found = []  # (gallery, embedding, what it holds of them)
    missing: NotFoundError | None = None
    for kind in [configured] + _other_stores(configured):
        try:
            gallery = open_gallery(store=kind)
            embedding = gallery.embedding or "dlib"  # what made the vectors (read before the last person goes)
            found.append((gallery, embedding, gallery.find_person(name)))
        except NotFoundError as exc:
            missing = missing or exc  # another store may still hold them
        except FacelensError as exc:
            if kind == configured:
                raise  # the configured store must be sound (or repaired) before anything is removed
            notes.append(f"the {kind} identity store could not be checked: {exc}")
    if not found:
        if notes:  # nobody found where we could look, and a store we could not read may hold them
            raise NotFoundError(
                f"{missing} " + " ".join(f"Also, {n}." for n in notes), hint=missing.hint if missing else None
            )
        raise missing or NotFoundError(f"No one called '{name}' is in the gallery.")
    gallery, embedding, first = found[0]
    vectors = np.vstack([r.vectors for _, _, r in found])
    # the same threshold that would have named the face as this person
    threshold = (
        gallery.threshold if getattr(gallery, "_threshold", None) is not None else embedders.threshold(embedding)
    )
    cache_files = forget_faces(vectors, threshold, embedding) if len(vectors) else 0
    exemplar_ids: list[str] = []
    try:
        from facelens.tools.exemplars import ExemplarStore

        exemplars = ExemplarStore(builtins=False)
        hits = exemplars.matching(vectors, threshold, embedding)
        if hits:
            exemplar_ids = [e.id for e in exemplars.remove_many([e.id for e in hits])]
    except FacelensError as exc:
        notes.append(f"the exemplar store could not be checked: {exc}")
    tracks: list[str] = []
    try:
        from facelens.agent.sessions import store as session_store

        tracks = [f"{sid}:{track}" for sid, track in session_store.forget_name(first.name)]
    except FacelensError as exc:
        notes.append(f"the session database could not be checked: {exc}")
    embeddings = 0
    for g, _, held in found:  # last: until here, a rerun finds the person and finishes the rest
        embeddings += g.erase(held.name).embeddings
    return Erasure(first.name, embeddings, cache_files, exemplar_ids, tracks, notes, [g.kind for g, _, _ in found])
