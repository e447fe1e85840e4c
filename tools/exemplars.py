"""Few-shot exemplars: labelled face crops shown to a VLM before the query face.

An exemplar is a face crop, an emotion label and a short note ("wrinkled nose, raised upper lip").
Built-in exemplars are defined in ``prompts/exemplars.yaml`` (public-domain sample portraits); the
user's own live under FACELENS_HOME/exemplars: the crop (JPEG), its 128-d face embedding and the
metadata. For a query face the k nearest exemplars by face embedding (FAISS, L2) go into the prompt
as image + answer turns. Embeddings are biometric data: they stay local, and ``remove`` deletes them.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools import config, faces
from facelens.tools.errors import GalleryError, InputError, NoFaceError, NotFoundError
from facelens.tools.images import LoadedImage, load_image
from facelens.tools.schema import EMOTIONS, Result
from facelens.tools.vlm_backends import person_crop, prompt_file, render

log = logging.getLogger(__name__)

DIM = 128
MAX_NOTE = 300


class Exemplar(Result):
    id: str  # "ex3" for the user's, "builtin-..." for the shipped ones
    label: str  # one of EMOTIONS
    note: str | None = None  # short description of the expression, shown to the VLM as the answer
    compound_emotions: list[str] = []  # optional secondary expressions
    builtin: bool = False  # shipped with facelens (cannot be removed)
    source: str | None = None  # original image path, or sample:<name>
    added: str | None = None  # UTC time it was added


def _check_label(label: str) -> str:
    label = (label or "").strip().lower()
    if label not in EMOTIONS:
        raise InputError(f"Unknown emotion label '{label}'. Use one of: {', '.join(EMOTIONS)}.")
    return label


def _definitions() -> dict:
    return prompt_file("exemplars.yaml")


@dataclass(frozen=True)
class FaceCrop:
    """The largest face of an image, ready for a VLM prompt and a nearest-exemplar search."""

    vector: np.ndarray  # 128-d dlib embedding
    crop: np.ndarray  # what the VLM is shown: head, shoulders, upper body
    rgb: np.ndarray  # the image the box and landmarks refer to (upsampled when small)
    landmarks: tuple[tuple[float, float], ...]  # 5 points in ``rgb``


def face_and_crop(rgb: np.ndarray, *, assume_crop: bool = False) -> FaceCrop:
    """The largest face in an image: its embedding, the crop a VLM is shown, its landmarks.

    Args:
        rgb: the image.
        assume_crop: when no face is detected, take the whole image as a tight face crop
            (datasets such as FER-2013 are 48 x 48 face crops that detectors miss).

    Raises:
        NoFaceError: no face was found and ``assume_crop`` is False.
    """
    work = rgb
    if max(rgb.shape[:2]) < 160:  # small crops: upsample so HOG and the landmarks have pixels to work on
        import cv2

        s = 160.0 / max(rgb.shape[:2])
        work = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_CUBIC)
    dets = faces.detect_faces(work, "hog")
    if dets:
        det = max(dets, key=lambda d: d.box[2] * d.box[3])
        crop = person_crop(work, det.box)
    elif assume_crop:
        h, w = work.shape[:2]
        det = faces.Detection(box=(0, 0, w, h), score=0.0, detector="crop")
        crop = work
    else:
        raise NoFaceError("No face found in the exemplar image.", hint="Use a clear, frontal face, or pass --crop if it is already a tight face crop.")
    found, shapes = faces.with_landmarks(work, [det])
    vec = faces.embed(work, shapes)[0]
    return FaceCrop(vector=vec.astype(np.float32), crop=np.ascontiguousarray(crop), rgb=work, landmarks=found[0].landmarks)


@lru_cache(maxsize=None)
def _builtin_data() -> tuple[tuple[Exemplar, ...], np.ndarray, tuple[np.ndarray, ...]]:
    from facelens.tools import samples

    exs, vecs, crops = [], [], []
    for d in _definitions().get("builtin") or []:
        name = str(d["source"]).removeprefix("sample:")
        rgb = samples.PEOPLE[name]()
        fc = face_and_crop(rgb)
        vec, crop = fc.vector, fc.crop
        exs.append(Exemplar(id=d["id"], label=_check_label(d["label"]), note=d.get("note"),
                            compound_emotions=list(d.get("compound_emotions") or []), builtin=True, source=d["source"]))
        vecs.append(vec)
        crops.append(crop)
    return tuple(exs), np.asarray(vecs, dtype=np.float32).reshape(-1, DIM), tuple(crops)


class ExemplarStore:
    """Built-in plus user exemplars, searchable by face embedding."""

    def __init__(self, root: str | Path | None = None, *, builtins: bool = True) -> None:
        self.root = Path(root) if root else config.subdir("exemplars")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.builtins = builtins

    # --- storage ---------------------------------------------------------------------------
    def _lock(self):
        from filelock import FileLock

        return FileLock(str(self.root / ".lock"), timeout=60)

    def _read(self) -> tuple[dict, np.ndarray]:
        meta_path, vec_path = self.root / "index.json", self.root / "vectors.npy"
        if not meta_path.exists():
            return {"next_id": 1, "exemplars": []}, np.zeros((0, DIM), dtype=np.float32)
        try:
            meta = json.loads(meta_path.read_text())
            vecs = np.load(vec_path) if vec_path.exists() else np.zeros((0, DIM), dtype=np.float32)
        except (OSError, ValueError) as exc:
            raise GalleryError(f"The exemplar store {self.root} is damaged: {exc}.", hint="Remove that folder and add the exemplars again.") from exc
        if len(vecs) != len(meta.get("exemplars", [])):
            raise GalleryError(f"The exemplar store {self.root} is inconsistent (vectors and metadata differ).", hint="Remove that folder and add the exemplars again.")
        return meta, vecs.astype(np.float32).reshape(-1, DIM)

    def _write(self, meta: dict, vecs: np.ndarray) -> None:
        import io

        buf = io.BytesIO()
        np.save(buf, vecs.astype(np.float32))
        for name, data in (("vectors.npy", buf.getvalue()), ("index.json", json.dumps(meta, indent=2).encode())):
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.root / name)

    # --- public API ------------------------------------------------------------------------
    def add(self, image: str | Path | bytes | LoadedImage, label: str, note: str | None = None, *, assume_crop: bool = False) -> Exemplar:
        """Add a labelled exemplar from an image (its largest face).

        Raises:
            InputError: unknown label, note too long; ImageError: unreadable image; NoFaceError.
        """
        label = _check_label(label)
        if note is not None:
            note = " ".join(note.split())
            if len(note) > MAX_NOTE:
                raise InputError(f"The note is {len(note)} characters; the limit is {MAX_NOTE}.")
        img = load_image(image)
        fc = face_and_crop(img.rgb, assume_crop=assume_crop)
        vec, crop = fc.vector, fc.crop
        with self._lock():
            meta, vecs = self._read()
            ex = Exemplar(id=f"ex{meta['next_id']}", label=label, note=note or None, source=img.source,
                          added=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            from PIL import Image

            Image.fromarray(crop).save(self.root / f"{ex.id}.jpg", quality=92)
            meta["exemplars"].append(ex.model_dump())
            meta["next_id"] += 1
            self._write(meta, np.vstack([vecs, vec[None, :]]))
        log.info("added exemplar %s (%s)", ex.id, label)
        return ex

    def list(self) -> list[Exemplar]:
        """Every exemplar: built-in first, then the user's in the order added."""
        meta, _ = self._read()
        user = [Exemplar.model_validate(d) for d in meta["exemplars"]]
        return (list(_builtin_data()[0]) if self.builtins else []) + user

    def remove(self, exemplar_id: str) -> Exemplar:
        """Delete one of the user's exemplars: its crop, embedding and metadata."""
        if exemplar_id.startswith("builtin-"):
            raise InputError(f"{exemplar_id} is built in and cannot be removed.", hint="Use ExemplarStore(builtins=False) to leave the built-in ones out.")
        with self._lock():
            meta, vecs = self._read()
            ids = [d["id"] for d in meta["exemplars"]]
            if exemplar_id not in ids:
                raise NotFoundError(f"No exemplar '{exemplar_id}'.", hint="See `facelens exemplars list`.")
            i = ids.index(exemplar_id)
            ex = Exemplar.model_validate(meta["exemplars"].pop(i))
            self._write(meta, np.delete(vecs, i, axis=0))
            (self.root / f"{exemplar_id}.jpg").unlink(missing_ok=True)
        return ex

    def _all(self) -> tuple[list[Exemplar], np.ndarray]:
        meta, vecs = self._read()
        user = [Exemplar.model_validate(d) for d in meta["exemplars"]]
        if not self.builtins:
            return user, vecs
        bex, bvecs, _ = _builtin_data()
        return list(bex) + user, np.vstack([bvecs, vecs])

    def image(self, ex: Exemplar) -> np.ndarray:
        """The crop shown to the VLM for an exemplar."""
        if ex.builtin:
            bex, _, crops = _builtin_data()
            return crops[[b.id for b in bex].index(ex.id)]
        return load_image(self.root / f"{ex.id}.jpg").rgb

    def nearest(self, vector: np.ndarray, k: int) -> list[tuple[Exemplar, float]]:
        """The k exemplars whose faces are nearest to ``vector`` (L2 on 128-d embeddings), nearest first."""
        if k <= 0:
            return []
        exs, vecs = self._all()
        if not exs:
            return []
        import faiss

        index = faiss.IndexFlatL2(DIM)
        index.add(np.ascontiguousarray(vecs, dtype=np.float32))
        q = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, DIM))
        dist, idx = index.search(q, min(k, len(exs)))
        return [(exs[int(i)], float(np.sqrt(max(d, 0.0)))) for d, i in zip(dist[0], idx[0]) if i >= 0]

    def answer(self, ex: Exemplar) -> str:
        """The JSON answer turn the VLM sees after an exemplar image."""
        expression = ex.note or render("default_expression", file="exemplars.yaml", label=ex.label)
        return json.dumps({"expression": expression, "emotion": ex.label, "confidence": 1.0, "compound_emotions": ex.compound_emotions})
