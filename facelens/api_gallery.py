"""``facelens.Gallery``: the identity gallery as users see it (enrol, identify, list, remove).

A thin facade over :mod:`facelens.tools.identity` (the store) and :mod:`facelens.agent.erasure`
(removal everywhere). Face embeddings are biometric data: they stay in FACELENS_HOME on this machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class Gallery:
    """The people facelens can recognise.

    Args:
        path: the gallery file (default: the one under FACELENS_HOME that the CLI uses).
        threshold: the open-set threshold (default: the tuned one); farther faces are "unknown".
    """

    def __init__(self, path: str | Path | None = None, threshold: float | None = None) -> None:
        from facelens.tools import identity

        kwargs = {} if threshold is None else {"threshold": threshold}
        self._path = path
        self._store = identity.Gallery(path, **kwargs)

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

            result = erase_person(name)
            self._store = type(self._store)(None, threshold=self._store.threshold)
            return result
        return self._store.remove_person(name)

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, name: str) -> bool:
        return self._store.canonical(name) is not None

    def __repr__(self) -> str:
        return f"facelens.Gallery({len(self._store)} embeddings)"
