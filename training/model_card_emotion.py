"""Render MODEL_CARD_emotion.md from the metadata export_emotion.py measured (no hand-typed numbers)."""

from __future__ import annotations

from pathlib import Path


def _table(rows: list[list[str]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)


def _commands(tr: dict) -> str:
    cmds = tr.get("commands")
    if not cmds:
        a = tr["args"]
        cmd = f"nice -n 10 python training/train_emotion.py --data ../shared/data/fer2013 --out /work/runs/emotion --epochs {a['epochs']}"
        if float(a.get("budget_minutes", 0) or 0):
            cmd += f" --budget-minutes {a['budget_minutes']}"
        cmds = [cmd]
    return "\n".join(f"    {c}" for c in cmds)


def _progress(tr: dict) -> str:
    hist = tr.get("history") or []
    if not hist:
        return ""
    budget = float(tr["args"].get("budget_minutes", 0) or 0)
    text = f" Training ran {len(hist)} epochs in all ({tr.get('minutes', '?')} min)"
    if budget and len(hist) < int(tr["args"]["epochs"]):
        text += (
            f", ending when its {budget:g}-minute wall-clock budget ran out; the learning-rate schedule is "
            "compressed to the budget so the weights end annealed. More epochs on a faster machine should do better"
        )
    return text + "."


def _weakest(val: dict) -> str:
    per, labels, cm = val["per_class"], list(val["per_class"]), val["confusion"]
    order = sorted(labels, key=lambda k: per[k]["f1"])
    parts = []
    for k in order[:3]:
        i = labels.index(k)
        row = [(c, labels[j]) for j, c in enumerate(cm[i]) if j != i]
        c, other = max(row)
        parts.append(f"{k} (F1 {per[k]['f1']:.2f}; most often taken for {other}: {c} of {per[k]['support']})")
    return "The weakest classes on val are " + ", ".join(parts) + "."


def _pipeline(meta: dict) -> str:
    pc = meta.get("pipeline_check")
    if not pc:
        return ""
    return (
        f"Check of that framing: on the {pc['n']} val faces where landmarks were found, accuracy is "
        f"{pc['accuracy_realigned']:.4f} on faces re-cropped this way vs {pc['accuracy_original_crops']:.4f} on "
        "the original FER crops."
    )


def _what(meta: dict) -> str:
    n = len(meta.get("members") or [])
    return f"An ensemble of {n} compact VGG-style CNNs" if n else "A compact VGG-style CNN"


def _selection(meta: dict) -> str:
    if meta.get("members"):
        return (
            '; the first member\'s epoch was chosen on FER-2013 PublicTest (3,589 faces, "val"), the others are '
            "their runs' last epochs; the temperature is fitted on val."
        )
    return ', model selected on FER-2013 PublicTest (3,589 faces, "val").'


def _single(meta: dict, curve: str) -> str:
    tr = meta["train"]
    run = tr["args"].get("out", "/work/runs/emotion")
    last = tr.get("checkpoint", "best.pt") == "last.pt"
    checkpoint = " --checkpoint last.pt" if last else ""
    hist = [r["val_acc"] for r in tr.get("history") or []]
    if last:
        which = "the run's last epoch, " + (
            "also the best on val" if hist and max(hist) == hist[-1] else "not the best on val"
        )
    else:
        which = "the best on val"
    return f"""## Training (reproducible)

{_commands(tr)}
    nice -n 10 python training/fer_framing.py --data ../shared/data/fer2013 --out {run}/framing.json
    python training/export_emotion.py --run {run} --data ../shared/data/fer2013{checkpoint}

(see training/README.md). The shipped weights are from epoch {tr["epochs_run"]} ({which}).{_progress(tr)}
Random 44 x 44 crops after a random affine (rotation +-12 deg, scale +-12%, shift +-10%), horizontal flip,
random erasing, label smoothing 0.1, class weights (n_max / n_class)^0.5 so that disgust (436 images) does
not collapse into anger, SGD + Nesterov with a one-cycle learning rate, batch 128, torch on 2 shared CPU
cores ({tr.get("minutes", "?")} min of training). At test time the centre 44 x 44 crop and its mirror are averaged.
Validation accuracy per epoch: {curve}."""


def _ensemble(meta: dict) -> str:
    rows = [["member", "trained", "epochs", "minutes", "val accuracy", "val macro-F1"]]
    for i, m in enumerate(meta["members"]):
        tr = m.get("train") or {}
        a = tr.get("args", {})
        rows.append(
            [
                f"{i + 1}: `{m.get('version')}`",
                f"seed {a.get('seed', 0)}, width {a.get('width', 16)}",
                str(tr.get("epochs_run", "?")),
                str(tr.get("minutes", "?")),
                f"{m['val']['accuracy']:.4f}",
                f"{m['val']['macro_f1']:.4f}",
            ]
        )
    cmds = "\n".join(f"    {c}" for c in meta["train"].get("commands", []))
    return f"""## Training (reproducible)

{cmds}

(see training/README.md). Each member is the same network and recipe (train_emotion.py) from another random
seed: random 44 x 44 crops after a random affine (rotation +-12 deg, scale +-12%, shift +-10%), horizontal
flip, random erasing, label smoothing 0.1, class weights (n_max / n_class)^0.5 so that disgust (436 images)
does not collapse into anger, SGD + Nesterov with a one-cycle learning rate, batch 128, torch on 2 CPU
cores. Each member reads the centre 44 x 44 crop and its mirror; `training/ensemble_emotion.py` puts the
members in one graph that averages their logits (the geometric mean of their probabilities).

{_table(rows)}"""


def write_card(meta: dict, path: Path) -> None:
    """Write the model card for the exported emotion model."""
    val, cal, tr = meta["val"], meta["calibration"], meta["train"]
    labels = meta["labels"]
    per = [["class", "precision", "recall", "F1", "support"]]
    per += [
        [k, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", str(v["support"])]
        for k, v in val["per_class"].items()
    ]
    conf = [["truth \\ predicted"] + labels] + [
        [labels[i]] + [str(c) for c in row] for i, row in enumerate(val["confusion"])
    ]
    hist = tr.get("history", [])
    curve = ", ".join(f"{r['val_acc']:.3f}" for r in hist)
    training = _ensemble(meta) if meta.get("members") else _single(meta, curve)
    fr = meta.get("framing", {})
    text = f"""# Model card: facelens emotion classifier (`emotion.onnx`)

Version `{meta["version"]}`. {_what(meta)} ({tr["params"] / 1e6:.2f} M parameters) that reads a
48 x 48 grey face and gives probabilities over 7 expressions: {", ".join(labels)}.
It describes how a face **looks** ("looks happy", with a confidence), not what the person feels.

## Data and licence
- Trained on FER-2013 Training (28,709 faces){_selection(meta)}
  FER-2013 (Kaggle / ICML 2013 representation-learning challenge) is a **research-only** data set of web
  images; the data is not shipped, only these weights. Check the data set's terms before commercial use.
- Labels are noisy: human accuracy on FER-2013 is about 65%; the best published single models reach about
  74% (PrivateTest), the mini-Xception that other libraries ship about 66%.

{training}

## Results on FER-2013 PublicTest (val), flip-averaged
Accuracy **{val["accuracy"]:.4f}**, macro F1 {val["macro_f1"]:.4f}, n = {val["n"]}.

{_table(per)}

Confusion matrix (rows: true class, columns: predicted):

{_table(conf)}

## Calibration
Temperature scaling fitted on val: T = {meta["temperature"]}. Expected calibration error (15 bins, top label):
{cal["ece_before"]:.4f} before, {cal["ece_after"]:.4f} after (T fitted and measured on the same val set),
{cal["ece_after_2fold"]:.4f} when T is fitted on one half of val and measured on the other (2-fold).
Reported `scores` are these calibrated softmax probabilities; they sum to 1.

## How facelens feeds it
`facelens.tools.emotion.classify(rgb, landmarks)` warps each face by a similarity transform that puts its
5 landmarks where FER-2013's faces have theirs on average ({meta["fer_landmarks"]} at 48 px; measured on
{fr.get("n_faces", "?")} FER val faces with dlib HOG + landmarks on 4x upscaled images by
`training/fer_framing.py`; as an `align_face` zoom that framing is {meta["align_zoom"]}, with the face
{abs(fr.get("mean_offset_px", [0, 0])[1]):.1f} px higher than the ArcFace template at 48 px), converts to grey and passes raw 0-255 pixels;
the graph crops, normalises and flip-averages.
{_pipeline(meta)}

## Known limits and biases
- FER-2013 is grey, low-resolution (48 px), mostly frontal web faces with posed or exaggerated
  expressions; subtle, spontaneous, occluded or profile faces are classified less reliably.
- {_weakest(val)}
- The data set's demographics are not documented; accuracy across age, gender and skin tone was not
  measured and may differ.
- An expression label is an appearance, not an emotion: do not use it to judge people (hiring,
  policing, health, education).
"""
    path.write_text(text)
