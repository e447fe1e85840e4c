"""Long-tail correction: fuse a VLM's emotion label with the local classifier's probabilities.

VLMs fold rare expressions (disgust, fear, anger) into common ones (happy, neutral, sad). We treat
the VLM's label as a noisy observation of the true expression and combine it with the classifier's
calibrated probabilities by Bayes' rule::

    posterior(e) ∝ prior_corrected_classifier(e) * P(VLM says l | true e)

``P(VLM says l | e)`` comes from a confusion matrix measured by ``facelens eval emotion DIR --vlm``
(saved under FACELENS_HOME) when there is one; otherwise from a noise model in which the VLM is right
with its stated confidence and, when wrong, errs towards the labels VLMs over-use (``VLM_OUTPUT_BIAS``).
So "happy" from a VLM is weaker evidence against "disgust" than "disgust" is against "happy".

The prior correction divides the classifier's training-set prior out (FER-2013 has 16x fewer disgust
than happy faces) and multiplies the deployment prior in (uniform by default).
"""

from __future__ import annotations

import json
import logging
import math

from facelens.tools import config
from facelens.tools.schema import EMOTIONS, EmotionEstimate, Result

log = logging.getLogger(__name__)

#: FER-2013 training-split class counts (what a FER-trained classifier's probabilities carry)
FER2013_TRAIN_COUNTS = {
    "angry": 3995,
    "disgust": 436,
    "fear": 4097,
    "happy": 7215,
    "neutral": 4965,
    "sad": 4830,
    "surprise": 3171,
}
#: assumed share of each label in a VLM's wrong answers (over-uses common labels); replaced by a measured
#: confusion matrix once ``eval emotion --vlm`` has run
VLM_OUTPUT_BIAS = {
    "angry": 0.08,
    "disgust": 0.03,
    "fear": 0.05,
    "happy": 0.22,
    "neutral": 0.35,
    "sad": 0.17,
    "surprise": 0.10,
}
CALIBRATION_FILE = "vlm_calibration.json"


class FusedEmotion(Result):
    label: str  # the fused label (one of EMOTIONS)
    confidence: float  # fused probability of that label
    scores: dict[str, float]  # fused probabilities over EMOTIONS
    vlm_label: str | None  # what the VLM said
    vlm_confidence: float | None  # how sure the VLM said it was
    classifier_label: str | None  # what the local classifier said
    classifier_scores: dict[str, float] | None  # its calibrated probabilities
    likelihood: str  # "measured" (confusion matrix from an eval) or "noise-model"
    evidence: str  # one line that shows both, for the answer


def _normalise(p: dict[str, float]) -> dict[str, float]:
    s = sum(p.values())
    if s <= 0 or not math.isfinite(s):
        return {e: 1.0 / len(EMOTIONS) for e in EMOTIONS}
    return {e: p[e] / s for e in EMOTIONS}


def load_calibration() -> dict[str, dict[str, float]] | None:
    """The measured P(VLM says l | true e) rows, saved by the VLM evaluation, or None."""
    path = config.home() / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        conf = data["confusion"]
        return {
            e: _normalise({lab: float(conf[e].get(lab, 0.0)) + 0.5 for lab in EMOTIONS}) for e in EMOTIONS
        }  # add-half smoothing
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return None


def save_calibration(confusion: dict[str, dict[str, int]], backend: str) -> None:
    """Store a confusion matrix (true label -> VLM label -> count) for later fusion."""
    path = config.home() / CALIBRATION_FILE
    path.write_text(json.dumps({"backend": backend, "confusion": confusion}, indent=2))


def vlm_likelihood(
    label: str, confidence: float, calibration: dict[str, dict[str, float]] | None = None
) -> dict[str, float]:
    """P(the VLM says ``label`` | true expression e), for every e."""
    if calibration is not None:
        return {e: calibration[e][label] for e in EMOTIONS}
    acc = min(0.95, max(0.3, confidence))  # VLM confidences are over-stated; never trust one fully
    out = {}
    for e in EMOTIONS:
        if e == label:
            out[e] = acc
        else:
            wrong = sum(VLM_OUTPUT_BIAS[o] for o in EMOTIONS if o != e)
            out[e] = (1 - acc) * VLM_OUTPUT_BIAS[label] / wrong
    return out


def prior_corrected(
    scores: dict[str, float], train_prior: dict[str, float] | None = None, target_prior: dict[str, float] | None = None
) -> dict[str, float]:
    """Classifier probabilities re-weighted from the training prior to the target prior."""
    train = _normalise({e: float((train_prior or FER2013_TRAIN_COUNTS)[e]) for e in EMOTIONS})
    target = (
        _normalise({e: float(target_prior[e]) for e in EMOTIONS})
        if target_prior
        else {e: 1.0 / len(EMOTIONS) for e in EMOTIONS}
    )
    return _normalise({e: float(scores.get(e, 0.0)) * target[e] / train[e] for e in EMOTIONS})


def fuse(
    vlm_label: str | None,
    vlm_confidence: float | None,
    classifier: EmotionEstimate | None,
    *,
    target_prior: dict[str, float] | None = None,
    calibration: dict[str, dict[str, float]] | None = None,
    use_saved_calibration: bool = True,
) -> FusedEmotion | None:
    """Fuse the VLM's label with the classifier's probabilities; None when neither is there."""
    if vlm_label not in EMOTIONS:
        vlm_label = None
    if vlm_label is None and classifier is None:
        return None
    if calibration is None and use_saved_calibration:
        calibration = load_calibration()
    base = (
        prior_corrected(classifier.scores, target_prior=target_prior)
        if classifier
        else _normalise({e: float((target_prior or {}).get(e, 1.0)) for e in EMOTIONS})
    )
    if vlm_label is not None:
        lik = vlm_likelihood(vlm_label, float(vlm_confidence if vlm_confidence is not None else 0.7), calibration)
        post = _normalise({e: base[e] * lik[e] for e in EMOTIONS})
    else:
        post = base
    label = max(post, key=post.get)
    parts = []
    if vlm_label is not None:
        parts.append(f"VLM: {vlm_label}" + (f" ({vlm_confidence:.2f})" if vlm_confidence is not None else ""))
    if classifier is not None:
        parts.append(f"classifier: {classifier.label} ({classifier.confidence:.2f})")
    evidence = "; ".join(parts) + f" -> fused: {label} ({post[label]:.2f})"
    return FusedEmotion(
        label=label,
        confidence=round(post[label], 4),
        scores={e: round(v, 4) for e, v in post.items()},
        vlm_label=vlm_label,
        vlm_confidence=vlm_confidence,
        classifier_label=classifier.label if classifier else None,
        classifier_scores=dict(classifier.scores) if classifier else None,
        likelihood="measured" if calibration is not None else "noise-model",
        evidence=evidence,
    )
