"""``facelens eval emotion`` and ``facelens eval attributes`` on small generated folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.tools import faces
from tests.conftest import save

EMOTION_KEYS = {"accuracy", "macro_f1", "n", "per_class", "confusion"}
ATTRIBUTE_KEYS = {"gender_accuracy", "age_group_accuracy", "age_mae", "n"}


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    try:
        data = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        data = None
    return code, data, err


def _crop(rgb: np.ndarray) -> np.ndarray:
    [face], _ = faces.find_faces(rgb, "hog", embeddings=False)
    return faces.crop_box(rgb, face.box, margin=0.15)


@pytest.fixture
def emotion_dir(tmp_path, astronaut, hopper):
    """happiness/ (alias) with the smiling astronaut, neutral/ with Hopper, contempt/ (no such label)."""
    root = tmp_path / "emotions"
    for name in ("happiness", "neutral", "contempt"):
        (root / name).mkdir(parents=True)
    save(astronaut, root / "happiness" / "astronaut.jpg")
    save(np.ascontiguousarray(astronaut[:, ::-1]), root / "happiness" / "astronaut_mirror.png", fmt="PNG")
    save(hopper, root / "neutral" / "hopper.jpg")
    save(np.full((200, 200, 3), 127, np.uint8), root / "neutral" / "blank.jpg")  # no face: counts as wrong
    save(hopper, root / "contempt" / "hopper.jpg")
    (root / "neutral" / "notes.txt").write_text("not an image, ignored")
    return root


def test_eval_emotion_detects_faces(capsys, emotion_dir):
    code, data, err = run(capsys, "eval", "emotion", str(emotion_dir), "--json")
    assert code == 0, err
    assert EMOTION_KEYS <= set(data)
    assert data["n"] == 4 and data["no_face"] == 1
    assert set(data["per_class"]) == {"happy", "neutral"}
    assert set(data["per_class"]["happy"]) == {"precision", "recall", "f1", "support"}
    assert data["per_class"]["happy"]["support"] == 2 and data["per_class"]["happy"]["recall"] == 1.0
    assert data["confusion"]["neutral"].get("no_face") == 1
    assert sum(data["unknown_classes"]["contempt"].values()) == 1
    assert 0.0 <= data["accuracy"] <= 0.75  # the blank image is always wrong


def test_eval_emotion_crops(capsys, tmp_path, astronaut, hopper):
    root = tmp_path / "crops"
    (root / "happy").mkdir(parents=True)
    (root / "sad").mkdir()
    save(_crop(astronaut), root / "happy" / "a.jpg")
    save(_crop(hopper), root / "sad" / "h.jpg")
    save(np.full((48, 48, 3), 90, np.uint8), root / "sad" / "flat.png", fmt="PNG")
    code, data, err = run(capsys, "eval", "emotion", str(root), "--crops", "--json")
    assert code == 0, err
    assert data["n"] == 3 and data["no_face"] == 0
    assert data["confusion"]["happy"] == {"happy": 1}
    assert sum(sum(row.values()) for row in data["confusion"].values()) == 3


def test_eval_emotion_text_summary(capsys, emotion_dir):
    assert main(["eval", "emotion", str(emotion_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("emotion: accuracy") and "not a model class: contempt" in out


def test_eval_emotion_corrupt_image_is_reported_not_fatal(capsys, tmp_path, astronaut):
    root = tmp_path / "e"
    (root / "happy").mkdir(parents=True)
    save(astronaut, root / "happy" / "ok.jpg")
    (root / "happy" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    code, data, err = run(capsys, "eval", "emotion", str(root), "--json")
    assert code == 0, err
    assert data["n"] == 1
    assert [e["file"].endswith("broken.jpg") for e in data["errors"]] == [True]


@pytest.mark.parametrize("what", ["missing", "empty", "no_images", "file"])
def test_eval_emotion_bad_folders(capsys, tmp_path, what):
    target = tmp_path / "x"
    if what == "empty":
        target.mkdir()
    elif what == "no_images":
        (target / "happy").mkdir(parents=True)
        (target / "happy" / "readme.txt").write_text("no images here")
    elif what == "file":
        target.write_text("not a folder")
    code, data, err = run(capsys, "eval", "emotion", str(target), "--json")
    assert code == 2
    assert err.startswith("facelens: ") and "Traceback" not in err
    assert data["error"] == "bad_input"


@pytest.fixture
def attr_dir(tmp_path, astronaut, hopper):
    root = tmp_path / "people"
    root.mkdir()
    save(astronaut, root / "a.jpg")
    save(hopper, root / "h.jpg")
    save(np.full((120, 120, 3), 200, np.uint8), root / "blank.jpg")
    (root / "labels.csv").write_text("file,age,gender\na.jpg,38,female\nh.jpg,78,1\nblank.jpg,30,male\n")
    return root


def test_eval_attributes(capsys, attr_dir):
    code, data, err = run(capsys, "eval", "attributes", str(attr_dir), "--json")
    assert code == 0, err
    assert ATTRIBUTE_KEYS <= set(data)
    assert data["n"] == 3 and data["no_face"] == 1
    assert data["gender_accuracy"] == pytest.approx(2 / 3, abs=1e-3)  # both women right, blank wrong
    assert data["age_mae"] is not None and data["age_mae"] >= 0


def test_eval_attributes_corrupt_image(capsys, attr_dir):
    (attr_dir / "a.jpg").write_bytes(b"GIF89a broken")
    code, data, err = run(capsys, "eval", "attributes", str(attr_dir), "--json")
    assert code == 0, err
    assert data["n"] == 2 and len(data["errors"]) == 1


@pytest.mark.parametrize(
    "labels, message",
    [
        (None, "labels.csv"),
        ("file,age\na.jpg,30\n", "gender"),
        ("file,age,gender\na.jpg,thirty,female\n", "line 2"),
        ("file,age,gender\na.jpg,30,robot\n", "line 2"),
        ("file,age,gender\n", "no rows"),
        ("file,age,gender\nmissing.jpg,30,male\n", "could be read"),
    ],
)
def test_eval_attributes_bad_labels(capsys, tmp_path, astronaut, labels, message):
    save(astronaut, tmp_path / "a.jpg")
    if labels is not None:
        (tmp_path / "labels.csv").write_text(labels)
    code, data, err = run(capsys, "eval", "attributes", str(tmp_path), "--json")
    assert code == 2
    assert message in err and "Traceback" not in err
    assert data["error"] == "bad_input"


def test_missing_models_are_clear_errors(capsys, monkeypatch, emotion_dir, attr_dir):
    from facelens.tools import attributes, emotion

    monkeypatch.setattr(emotion, "available", lambda: False)
    monkeypatch.setattr(attributes, "available", lambda: False)
    for argv in (["eval", "emotion", str(emotion_dir), "--json"], ["eval", "attributes", str(attr_dir), "--json"]):
        code, data, err = run(capsys, *argv)
        assert code == 2 and "not installed" in err
        assert data["error"] == "model"
