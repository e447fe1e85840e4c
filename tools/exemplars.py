"""Few-shot exemplars: labelled face crops shown to a VLM before the query face.

An exemplar is a face crop, an emotion label and a short note ("wrinkled nose, raised upper lip").
Built-in exemplars are defined in ``prompts/exemplars.yaml``; their face crops (public-domain
sample portraits) ship as package data in ``facelens/tools/data/exemplars``. The user's own live
under FACELENS_HOME/exemplars: one crop (JPEG) each, and one store file ``store.npz`` with every
128-d face embedding and the metadata, committed in one atomic step with a checksum and the last
good generation kept (``facelens.tools.atomic``); a crop whose commit never happened is deleted at
the next open. For a query face the k nearest exemplars by face embedding (FAISS, L2) go into the
prompt as image + answer turns. Embeddings are biometric data: they stay local, and ``remove``
deletes them from both generations.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from facelens.tools import config, faces
from facelens.tools.atomic import Generations, remove_files, stale_temps, write_sealed
from facelens.tools.errors import GalleryError, InputError, NoFaceError, NotFoundError
from facelens.tools.images import LoadedImage, load_image
from facelens.tools.schema import EMOTIONS, Result
from facelens.tools.vlm_backends import person_crop, render

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
    from facelens import prompts

    return prompts.load("exemplars")


@dataclass(frozen=True)
class FaceCrop:
    """The largest face of an image, ready for a VLM prompt and a nearest-exemplar search."""

    vector: np.ndarray  # 128-d dlib embedding
    crop: np.ndarray  # what the VLM is shown: head, shoulders, upper body
    rgb: np.ndarray  # the image the box and landmarks refer to (upsampled when small)
    landmarks: tuple[tuple[float, float], ...]  # 5 points in ``rgb``
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # the face in ``rgb``


def face_and_crop(rgb: np.ndarray, *, assume_crop: bool = False) -> FaceCrop:
    """The largest face in an image: its embedding, the crop a VLM is shown, its landmarks.

    Args:
        rgb: the image.
        assume_crop: when no face is detected, take the whole image as a tight face crop
            (datasets such as FER-2013 are 48 x 48 face crops that detectors miss).

    Raises:
        NoFaceError: no face was found and ``assume_crop`` is False.
    """
    work, s = rgb, 1.0
    if max(rgb.shape[:2]) < 160:  # small crops: upsample so the landmarks have pixels to work on
        import cv2

        s = 160.0 / max(rgb.shape[:2])
        work = cv2.resize(rgb, (round(rgb.shape[1] * s), round(rgb.shape[0] * s)), interpolation=cv2.INTER_CUBIC)
    # the same detector, on the same pixels, as `facelens analyze` (tools/scene.py): a face analyze
    # finds can be an exemplar; tiny crops it misses are retried upsampled
    dets = faces.detect_faces(rgb, faces.DEFAULT_DETECTOR)
    if dets and s != 1.0:
        dets = [
            faces.Detection(box=tuple(round(v * s) for v in d.box), score=d.score, detector=d.detector) for d in dets
        ]
    elif not dets and s != 1.0:
        dets = faces.detect_faces(work, faces.DEFAULT_DETECTOR)
    if dets:
        det = max(dets, key=lambda d: d.box[2] * d.box[3])
        crop = person_crop(work, det.box)
    elif assume_crop:
        h, w = work.shape[:2]
        det = faces.Detection(box=(0, 0, w, h), score=0.0, detector="crop")
        crop = work
    else:
        raise NoFaceError(
            "No face found in the exemplar image.",
            hint="Use a clear, frontal face, or pass --crop if it is already a tight face crop.",
        )
    found, shapes = faces.with_landmarks(work, [det])
    vec = faces.embed(work, shapes)[0]
    return FaceCrop(
        vector=vec.astype(np.float32),
        crop=np.ascontiguousarray(crop),
        rgb=work,
        landmarks=found[0].landmarks,
        box=found[0].box,
    )


def _builtin_meta() -> tuple[Exemplar, ...]:
    """The built-in exemplars' metadata (no images: listing them needs no face models)."""
    return tuple(
        Exemplar(
            id=d["id"],
            label=_check_label(d["label"]),
            note=d.get("note"),
            compound_emotions=list(d.get("compound_emotions") or []),
            builtin=True,
            source=d["source"],
        )
        for d in _definitions().get("builtin") or []
    )


def builtin_crop(d: dict) -> np.ndarray:
    """The shipped face crop of a built-in exemplar (package data, no scikit-image needed)."""
    from importlib import resources

    name = d.get("crop") or str(d["source"]).removeprefix("sample:") + ".jpg"
    try:
        data = resources.files("facelens.tools.data.exemplars").joinpath(name).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError, TypeError):
        data = (Path(__file__).parent / "data" / "exemplars" / name).read_bytes()  # editable installs
    return load_image(data).rgb


@cache
def _builtin_data() -> tuple[tuple[Exemplar, ...], np.ndarray, tuple[np.ndarray, ...]]:
    exs, vecs, crops = [], [], []
    for ex, d in zip(_builtin_meta(), _definitions().get("builtin") or []):
        crop = builtin_crop(d)
        vecs.append(face_and_crop(crop).vector)
        exs.append(ex)
        crops.append(crop)
    return tuple(exs), np.asarray(vecs, dtype=np.float32).reshape(-1, DIM), tuple(crops)


_CROP = re.compile(r"^ex\d+\.jpg$")


class ExemplarStore:
    """Built-in plus user exemplars, searchable by face embedding."""

    def __init__(self, root: str | Path | None = None, *, builtins: bool = True) -> None:
        self.root = Path(root) if root else config.subdir("exemplars")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.builtins = builtins
        self.store = Generations(self.root / "store.npz", "the exemplar store", "facelens exemplars repair")
        self._opened = False

    # --- storage ---------------------------------------------------------------------------
    def _lock(self, timeout: float = 60):
        from filelock import FileLock

        return FileLock(str(self.root / ".lock"), timeout=timeout)

    @staticmethod
    def _parse(payload: bytes) -> tuple[dict, np.ndarray]:
        with np.load(io.BytesIO(payload), allow_pickle=False) as data:
            vecs = np.asarray(data["vectors"], dtype=np.float32).reshape(-1, DIM)
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
        if len(vecs) != len(meta["exemplars"]):
            raise ValueError(f"{len(vecs)} vectors for {len(meta['exemplars'])} exemplars (inconsistent)")
        return meta, vecs

    def _open(self) -> None:
        """Once per store object, under the lock: finish what a killed process left (stale temp
        files, crops never committed) and move a store of the old two-file layout into one file."""
        if self._opened:
            return
        from filelock import Timeout

        try:
            with self._lock(timeout=0):
                self._migrate()
                self.store.clean()
                meta, _ = self._read()
                remove_files(stale_temps(self.root) + list(self.root.glob(".tmp-*")))  # and older versions' temp files
                known = {f"{d['id']}.jpg" for d in meta["exemplars"]}
                remove_files([p for p in self.root.glob("ex*.jpg") if _CROP.match(p.name) and p.name not in known])
        except Timeout:
            return  # another process is writing now; clean up next time
        self._opened = True

    def _migrate(self) -> None:
        """The layout before facelens 0.1's atomic store: index.json + vectors.npy, renamed one by one."""
        old_meta, old_vecs = self.root / "index.json", self.root / "vectors.npy"
        if not old_meta.exists() or self.store.path.exists():
            return
        try:
            meta = json.loads(old_meta.read_text())
            vecs = np.load(old_vecs) if old_vecs.exists() else np.zeros((0, DIM), dtype=np.float32)
        except (OSError, ValueError) as exc:
            raise GalleryError(
                f"The exemplar store {self.root} is damaged: {exc}.",
                hint="Remove that folder and add the exemplars again.",
            ) from exc
        vecs = np.asarray(vecs, dtype=np.float32).reshape(-1, DIM)
        n = len(meta.get("exemplars", []))
        if len(vecs) > n:  # an add killed between its two renames: its vector never got its metadata
            vecs = vecs[:n]
        if len(vecs) != n:
            raise GalleryError(
                f"The exemplar store {self.root} is inconsistent (vectors and metadata differ).",
                hint="Remove that folder and add the exemplars again.",
            )
        self._commit(meta, vecs)
        remove_files([old_meta, old_vecs])

    def _read(self) -> tuple[dict, np.ndarray]:
        loaded = self.store.load(self._parse)
        if loaded.value is None:
            return {"next_id": 1, "exemplars": []}, np.zeros((0, DIM), dtype=np.float32)
        meta, vecs = loaded.value  # type: ignore[misc]
        return meta, vecs

    def _commit(self, meta: dict, vecs: np.ndarray, *, keep_previous: bool = True) -> None:
        buf = io.BytesIO()
        np.savez(
            buf,
            vectors=np.asarray(vecs, dtype=np.float32).reshape(-1, DIM),
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        )
        self.store.commit(buf.getvalue(), keep_previous=keep_previous)

    def repair(self) -> str:
        """Restore the last good generation over a damaged store file (or start empty)."""
        with self._lock():
            return self.store.repair(self._parse)

    def status(self) -> str | None:
        """None when the store file is sound or absent, else what is wrong with it."""
        return self.store.status(self._parse)

    # --- public API ------------------------------------------------------------------------
    def add(
        self, image: str | Path | bytes | LoadedImage, label: str, note: str | None = None, *, assume_crop: bool = False
    ) -> Exemplar:
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
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(crop).save(buf, format="JPEG", quality=92)
        self._open()
        with self._lock():
            self.store.check_writable(self._parse)
            meta, vecs = self._read()
            ex = Exemplar(
                id=f"ex{meta['next_id']}",
                label=label,
                note=note or None,
                source=img.source,
                added=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            )
            # the crop first, then the commit that makes it part of the store
            write_sealed(self.root / f"{ex.id}.jpg", buf.getvalue(), sealed=False)
            meta["exemplars"].append(ex.model_dump())
            meta["next_id"] += 1
            self._commit(meta, np.vstack([vecs, vec[None, :]]))
        log.info("added exemplar %s (%s)", ex.id, label)
        return ex

    def list(self) -> list[Exemplar]:
        """Every exemplar: built-in first, then the user's in the order added."""
        self._open()
        meta, _ = self._read()
        user = [Exemplar.model_validate(d) for d in meta["exemplars"]]
        return (list(_builtin_meta()) if self.builtins else []) + user

    def remove(self, exemplar_id: str) -> Exemplar:
        """Delete one of the user's exemplars: its crop, embedding and metadata."""
        if exemplar_id.startswith("builtin-"):
            raise InputError(
                f"{exemplar_id} is built in and cannot be removed.",
                hint="Use ExemplarStore(builtins=False) to leave the built-in ones out.",
            )
        return self.remove_many([exemplar_id])[0]

    def remove_many(self, exemplar_ids: list[str]) -> list[Exemplar]:
        """Delete several of the user's exemplars in one commit (both generations), then their crops."""
        self._open()
        with self._lock():
            self.store.check_writable(self._parse)
            meta, vecs = self._read()
            ids = [d["id"] for d in meta["exemplars"]]
            missing = [e for e in exemplar_ids if e not in ids]
            if missing:
                raise NotFoundError(f"No exemplar '{missing[0]}'.", hint="See `facelens exemplars list`.")
            drop = sorted(ids.index(e) for e in set(exemplar_ids))
            gone = [Exemplar.model_validate(meta["exemplars"][i]) for i in drop]
            meta["exemplars"] = [d for i, d in enumerate(meta["exemplars"]) if i not in drop]
            self._commit(meta, np.delete(vecs, drop, axis=0), keep_previous=False)
            remove_files([self.root / f"{ex.id}.jpg" for ex in gone])
        return gone

    def matching(self, vectors: np.ndarray, threshold: float, embedding: str = "dlib") -> list[Exemplar]:
        """The user's exemplars whose face is within ``threshold`` (L2) of any of ``vectors``.

        ``embedding``: what made ``vectors``; the exemplars keep dlib's, so for "sface" each exemplar's
        face is embedded again from its crop (an unreadable crop counts as a match: it cannot be cleared)."""
        self._open()
        meta, vecs = self._read()
        unreadable = np.zeros(len(vecs), bool)
        if embedding == "sface" and len(vecs):
            again = [self._sface_vector(Exemplar.model_validate(m)) for m in meta["exemplars"]]
            unreadable = np.array([v is None for v in again])
            vecs = np.vstack([np.zeros(DIM, np.float32) if v is None else v for v in again])
        q = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if not len(vecs) or not len(q):
            return []
        d = np.linalg.norm(vecs[:, None, :] - q[None, :, :], axis=2).min(axis=1)
        d[unreadable] = -1.0
        return [Exemplar.model_validate(m) for m, di in zip(meta["exemplars"], d) if di <= threshold]

    def _sface_vector(self, ex: Exemplar) -> np.ndarray | None:
        from facelens.tools import sface

        try:
            fc = face_and_crop(self.image(ex), assume_crop=True)
        except (InputError, NotFoundError, OSError) as exc:
            log.warning("exemplar %s: %s", ex.id, exc)
            return None
        return sface.embed(fc.rgb, [fc])[0]

    def _all(self) -> tuple[list[Exemplar], np.ndarray]:
        self._open()
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
        expression = ex.note or render("default_expression", file="exemplars", label=ex.label)
        return json.dumps(
            {
                "expression": expression,
                "emotion": ex.label,
                "confidence": 1.0,
                "compound_emotions": ex.compound_emotions,
            }
        )
