"""``facelens.Gallery``: the identity gallery as users see it (enrol, identify, list, remove).

A thin facade over the configured identity store (:func:`facelens.tools.identity_store.open_gallery`:
FAISS files by default, or Milvus) and :mod:`facelens.agent.erasure` (removal everywhere). Face
embeddings are biometric data: by default they stay in FACELENS_HOME on this machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class Gallery:
    """The people facelens can recognise.

    Args:
        path: a FAISS gallery file of your own (default: the store the CLI uses, chosen by
            FACELENS_IDENTITY_STORE / ``identity_store:`` in config.yaml).
        threshold: the open-set threshold (default: the tuned one); farther faces are "unknown".
        store: ``"faiss"`` or ``"milvus"`` to override the configured store (ignored with ``path``).
    """

    def __init__(
        self, path: str | Path | None = None, threshold: float | None = None, *, store: str | None = None
    ) -> None:
        self._path, self._threshold, self._kind = path, threshold, store
        self._store = self._open()

    def _open(self):
        if self._path is not None:
            from facelens.tools import identity

            return identity.FaissGallery(
                self._path, **({} if self._threshold is None else {"threshold": self._threshold})
            )
        from facelens.tools.identity_store import open_gallery

        return open_gallery(self._threshold, store=self._kind)

    def enroll(self, name: str, images: Sequence[str | Path] | str | Path, *, face: int | None = None):
        """Add ``name`` from one or more photos (one face each, or ``face=`` to pick); returns
        one Enrolled per photo. Raises FacelensError with a hint for a photo without a usable face."""
        from facelens.tools import identity

        if isinstance(images, (str, Path)):
            images = [images]
        return identity.enroll(name, list(images), face=face, gallery=self._store)

    def identify(self, image, *, detector: str | None = None):
        """Per face found in ``image`` (left to right): an ``IdentityMatch`` (``name`` is "unknown" beyond
        the open-set threshold) or None when the gallery is empty."""
        from facelens.tools import faces
        from facelens.tools.scene import analyze_image

        scene = analyze_image(image, detector=detector or faces.DEFAULT_DETECTOR, gallery=self._store)
        return [f.identity for f in scene.faces]

    def people(self):
        """Everyone enrolled: name, number of embeddings, sources."""
        return self._store.people()

    def remove(self, name: str):
        """Delete ``name`` everywhere: embeddings, cached analyses, matching exemplars, names in sessions.
        Only for the default gallery; a gallery opened from another ``path`` loses just its entry."""
        if self._path is None:
            from facelens.agent.erasure import erase_person

            self.close()  # erasure opens the store itself (Milvus Lite serves one client at a time)
            try:
                return erase_person(name, store=self._kind)
            finally:
                self._store = self._open()
        return self._store.remove_person(name)

    def close(self) -> None:
        """Release the store (a Milvus connection); the FAISS files need nothing."""
        close = getattr(self._store, "close", None)
        if callable(close):
            close()

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, name: str) -> bool:
        return self._store.canonical(name) is not None

    def __repr__(self) -> str:
        describe = getattr(self._store, "describe", None)
        where = f", {describe()}" if callable(describe) else ""
        return f"facelens.Gallery({len(self._store)} embeddings{where})"
