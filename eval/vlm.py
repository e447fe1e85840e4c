"""Zero-shot versus k-shot VLM emotion accuracy on a labelled folder (``facelens eval emotion DIR --vlm``).

DIR has one sub-folder per emotion (``happy/``, ``sad/``... common aliases accepted). Each image's
largest face (or, for tight crops such as FER-2013, the whole image) is described by the VLM
zero-shot and, with ``shots=K``, after its K nearest exemplars from the exemplar store (the image
itself is never its own exemplar). A malformed reply counts as wrong. When the local emotion
classifier is installed, its accuracy and the fused (long-tail corrected) accuracy are reported
too, and the VLM's confusion matrix is saved for later fusion.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from facelens.tools import vlm_calibration
from facelens.tools.errors import ConfigError, FacelensError, InputError
from facelens.tools.images import load_image
from facelens.tools.schema import EMOTIONS, Result
from facelens.tools.vlm import ask_vlm, describe_turns
from facelens.tools.vlm_backends import VLMBackend, candidates

log = logging.getLogger(__name__)

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
ALIASES = {
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "calm": "neutral",
}
MALFORMED = "malformed"


class ShotScore(Result):
    shots: int  # 0 = zero-shot
    accuracy: float  # over all images; malformed replies count as wrong
    fused_accuracy: float | None = None  # after fusion with the local classifier (None without one)
    malformed: int  # replies unusable even after the corrective retry
    retried: int  # replies that needed the corrective retry
    confusion: dict[str, dict[str, int]]  # true label -> VLM label (or "malformed") -> count
    seconds: float  # wall time of this pass


class VLMEvaluation(Result):
    backend: str
    folder: str
    n: int  # images scored
    classifier_accuracy: float | None = None  # the local classifier alone, on the same images
    results: list[ShotScore]  # zero-shot first, then k-shot
    errors: list[dict[str, str]] = []  # unreadable images or images without a face


def labelled_images(folder: str | Path, limit_per_class: int | None = None) -> list[tuple[Path, str]]:
    """(image, label) pairs from DIR/<label>/*, in a stable order."""
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder.", hint="Pass a folder with one sub-folder per emotion.")
    out = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        label = ALIASES.get(sub.name.lower(), sub.name.lower())
        if label not in EMOTIONS:
            log.warning("skipping folder %s: not one of %s", sub.name, ", ".join(EMOTIONS))
            continue
        files = sorted(p for p in sub.iterdir() if p.suffix.lower() in SUFFIXES)
        out += [(p, label) for p in files[:limit_per_class]]
    if not out:
        raise InputError(f"No labelled images in {root}.", hint=f"Use sub-folders named {', '.join(EMOTIONS)}.")
    return out


def _backend(backend: str | VLMBackend | None, allow_cloud: bool | None) -> VLMBackend:
    backends, _, notes = candidates(backend, allow_cloud=allow_cloud)
    if not backends:
        raise ConfigError(
            "No VLM is available for --vlm." + (f" ({'; '.join(notes)})" if notes else ""),
            hint="Set OPENAI_API_KEY, FACELENS_VLM_BASE_URL or FACELENS_LOCAL_VLM.",
        )
    return backends[0]


def evaluate_vlm(
    folder: str | Path,
    *,
    shots: int = 0,
    backend: str | VLMBackend | None = None,
    allow_cloud: bool | None = None,
    limit_per_class: int | None = None,
    crops: bool = False,
    store: object | None = None,
    max_tokens: int = 400,
    save_calibration: bool = True,
) -> VLMEvaluation:
    """Score the VLM zero-shot and (when ``shots`` > 0) k-shot on a labelled folder."""
    from facelens.tools.exemplars import ExemplarStore, face_and_crop

    vlm = _backend(backend, allow_cloud)
    items = labelled_images(folder, limit_per_class)
    store = store or ExemplarStore()
    try:
        from facelens.tools import emotion

        has_classifier = emotion.available()
    except ImportError:
        has_classifier = False
    prepared, errors = [], []
    for path, label in items:
        try:
            img = load_image(path)
            fc = face_and_crop(img.rgb, assume_crop=True)
        except FacelensError as exc:
            errors.append({"file": str(path), "error": str(exc)})
            continue
        est = None
        if has_classifier:
            est = (emotion.classify_crops([img.rgb]) if crops else emotion.classify(fc.rgb, [fc.landmarks]))[0]
        prepared.append((path, label, fc, est))
    if not prepared:
        raise InputError("None of the images could be used.", hint=errors[0]["error"] if errors else None)
    results = []
    for k in sorted({0, shots}):
        t0 = time.perf_counter()
        confusion = {e: {} for e in EMOTIONS}
        correct = fused_correct = malformed = retried = 0
        for i, (_path, label, fc, est) in enumerate(prepared, 1):
            pairs = []
            if k:
                near = [(ex, d) for ex, d in store.nearest(fc.vector, k + 1) if d > 1e-4][:k]  # never itself
                pairs = [(store.image(ex), store.answer(ex)) for ex, _ in near]
            answer, _, again, _ = ask_vlm(vlm, describe_turns(fc.crop, shots=pairs), max_tokens)
            said = answer.emotion if answer else MALFORMED
            confusion[label][said] = confusion[label].get(said, 0) + 1
            correct += said == label
            malformed += answer is None
            retried += again
            if est is not None:
                f = vlm_calibration.fuse(
                    answer.emotion if answer else None,
                    answer.confidence if answer else None,
                    est,
                    use_saved_calibration=False,
                )
                fused_correct += bool(f and f.label == label)
            if i % 10 == 0:
                print(f"eval emotion --vlm ({k}-shot): {i}/{len(prepared)}", file=sys.stderr, flush=True)
        n = len(prepared)
        results.append(
            ShotScore(
                shots=k,
                accuracy=round(correct / n, 4),
                fused_accuracy=round(fused_correct / n, 4) if has_classifier else None,
                malformed=malformed,
                retried=retried,
                confusion=confusion,
                seconds=round(time.perf_counter() - t0, 1),
            )
        )
    if save_calibration:
        best = max(results, key=lambda r: r.accuracy)
        vlm_calibration.save_calibration(
            {e: {lab: c for lab, c in row.items() if lab in EMOTIONS} for e, row in best.confusion.items()}, vlm.name
        )
    clf_acc = None
    if has_classifier:
        clf_acc = round(sum(est.label == label for _, label, _, est in prepared) / len(prepared), 4)
    return VLMEvaluation(
        backend=vlm.name,
        folder=str(folder),
        n=len(prepared),
        classifier_accuracy=clf_acc,
        results=results,
        errors=errors,
    )


def summary(r: VLMEvaluation) -> str:
    """Human-readable lines for the CLI."""
    lines = [f"VLM {r.backend} on {r.n} images of {r.folder}"]
    if r.classifier_accuracy is not None:
        lines.append(f"  local classifier alone: accuracy {r.classifier_accuracy:.3f}")
    for s in r.results:
        fused = f", fused with the classifier {s.fused_accuracy:.3f}" if s.fused_accuracy is not None else ""
        lines.append(
            f"  {s.shots}-shot: accuracy {s.accuracy:.3f}{fused} ({s.malformed} malformed, {s.retried} retried, {s.seconds:.0f} s)"
        )
    if r.errors:
        lines.append(f"  {len(r.errors)} image(s) skipped: {r.errors[0]['error']}")
    return "\n".join(lines)
