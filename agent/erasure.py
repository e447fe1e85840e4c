"""Erasure that erases: ``facelens gallery remove NAME`` deletes a person from every file under
FACELENS_HOME, and says what it deleted.

- the gallery: their embeddings and metadata, from the current file and the previous generation
  (both rewritten), and any temp file an interrupted write left;
- the analysis cache: every cached analysis holding a face within the identity threshold of one of
  their embeddings (those entries hold that face's embedding);
- exemplars: the user's exemplars whose face is theirs (crop, embedding, metadata);
- sessions: their name on face tracks (the tracks stay, anonymous; SQLite's secure_delete and a
  VACUUM leave no old copy of the name in the file).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from facelens.tools.errors import FacelensError


@dataclass(frozen=True)
class Erasure:
    """What :func:`erase_person` deleted."""

    name: str  # the person, as enrolled
    embeddings: int  # gallery embeddings deleted (from both generations)
    cache_files: int  # cached analyses deleted (they held the person's face)
    exemplars: list[str] = field(default_factory=list)  # ids of the user's exemplars deleted
    session_tracks: list[str] = field(default_factory=list)  # "session:track" whose name was cleared
    notes: list[str] = field(default_factory=list)  # stores that could not be checked, and why

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.embeddings} embedding(s) and their metadata from the gallery (and its previous generation)"]
        parts.append(f"{self.cache_files} cached analysis file(s) holding their face")
        parts.append(f"{len(self.exemplars)} exemplar(s) of their face" + (f" ({', '.join(self.exemplars)})" if self.exemplars else ""))
        parts.append(f"their name from {len(self.session_tracks)} session face track(s)" + (f" ({', '.join(self.session_tracks)})" if self.session_tracks else ""))
        text = f"Removed {self.name}: " + "; ".join(parts) + "."
        return text + "".join(f"\nnote: {n}" for n in self.notes)


def erase_person(name: str, *, store: str | None = None) -> Erasure:
    """Delete a person's vectors and metadata from every store under FACELENS_HOME.

    Raises:
        NotFoundError: no one of that name is enrolled. InputError: the name matches several people.
        GalleryError: the gallery file is damaged (repair it first).
    """
    from facelens.tools import embedders
    from facelens.tools.identity_store import open_gallery
    from facelens.tools.scene import forget_faces

    gallery = open_gallery(store=store)  # the configured store unless told (faiss | milvus)
    embedding = gallery.embedding or "dlib"  # what made the vectors (read before the last person goes)
    removed = gallery.remove_person(name)
    notes: list[str] = []
    # the same threshold that would have named the face as this person
    threshold = gallery.threshold if getattr(gallery, "_threshold", None) is not None else embedders.threshold(embedding)
    cache_files = forget_faces(removed.vectors, threshold, embedding) if len(removed.vectors) else 0
    exemplar_ids: list[str] = []
    try:
        from facelens.tools.exemplars import ExemplarStore

        store = ExemplarStore(builtins=False)
        hits = store.matching(removed.vectors, threshold, embedding)
        if hits:
            exemplar_ids = [e.id for e in store.remove_many([e.id for e in hits])]
    except FacelensError as exc:
        notes.append(f"the exemplar store could not be checked: {exc}")
    tracks: list[str] = []
    try:
        from facelens.agent import session_store

        tracks = [f"{sid}:{track}" for sid, track in session_store.forget_name(removed.name)]
    except FacelensError as exc:
        notes.append(f"the session database could not be checked: {exc}")
    return Erasure(removed.name, removed.embeddings, cache_files, exemplar_ids, tracks, notes)
