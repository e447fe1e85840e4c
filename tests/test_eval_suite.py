"""``facelens eval suite``: the domain registry, targets, JSON shape and exit codes (no research data needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facelens.agent.cli import main
from facelens.eval import collages
from facelens.eval import registry as eval_registry
from facelens.eval import suite as eval_suite
from facelens.eval.suite import Domain


@pytest.fixture
def registry(monkeypatch):
    eval_suite.domains()  # the built-in ones first, then a clean copy the test may change
    monkeypatch.setattr(eval_registry, "_DOMAINS", {})
    return eval_registry._DOMAINS


def _fake(name, value, *, target=0.9, maximum=False, needs=()):
    seen = []

    def run(root, quick):
        seen.append(quick)
        return {"score": value if not quick else value - 0.01, "n": 3}

    return Domain(
        name, "a fake domain", run, {"score": target}, frozenset({"score"}) if maximum else frozenset(), needs
    ), seen


def test_built_in_domains_cover_every_kind_of_input():
    names = [d.name for d in eval_suite.domains()]
    for n in (
        "crowds",
        "portraits",
        "tight-crops",
        "collages",
        "web-photos",
        "tiny-grey",
        "identity",
        "emotion",
        "age-gender",
        "questions",
        "session-questions",
        "text-emotion",
    ):
        assert n in names
    generated = {"questions", "session-questions"}  # generated scenes and sessions: no research data needed
    for d in eval_suite.domains():
        assert d.description and d.quick and (d.needs or d.name in generated)


def test_json_shape_and_exit_code_when_targets_are_met(registry, tmp_path, capsys):
    d, seen = _fake("good", 0.95)
    eval_suite.register(d)
    assert main(["eval", "suite", "--json", "--quick", "--data", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["good"]["score"] == pytest.approx(0.94) and out["good"]["n"] == 3
    assert out["good"]["target"] == {"score": 0.9} and out["good"]["ok"] is True
    assert seen == [True]


def test_a_missed_target_fails_the_suite_and_the_table_says_which(registry, tmp_path, capsys):
    good, _ = _fake("good", 0.95)
    bad, _ = _fake("bad", 0.5)
    slow, _ = _fake("slow", 2.0, target=1.0, maximum=True)
    for d in (good, bad, slow):
        eval_suite.register(d)
    assert main(["eval", "suite", "--data", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert "MISSED bad.score, slow.score" in text
    assert ">= 0.9" in text and "<= 1.0" in text


def test_a_domain_without_its_data_is_skipped_not_failed(registry, tmp_path, capsys):
    d, seen = _fake("needs-data", 0.1, needs=("nowhere/boxes.json",))
    eval_suite.register(d)
    assert main(["eval", "suite", "--json", "--data", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "no " in out["needs-data"]["skipped"] and seen == []


def test_bad_data_folder_and_unknown_domain_are_clear_errors(registry, tmp_path, capsys):
    assert main(["eval", "suite", "--data", str(tmp_path / "absent")]) == 2
    assert "No evaluation data" in capsys.readouterr().err
    assert main(["eval", "suite", "--data", str(tmp_path), "--only", "nope"]) == 2
    assert "Unknown suite domain" in capsys.readouterr().err


def test_collages_are_deterministic_and_know_their_tiles(astronaut, hopper):
    faces = [astronaut, hopper, astronaut, hopper, astronaut]
    a = collages.make_collage(faces, np.random.default_rng(7), grey=True)
    b = collages.make_collage(faces, np.random.default_rng(7), grey=True)
    assert (a.rgb == b.rgb).all() and a.tiles == b.tiles and len(a.tiles) == 5
    H, W = a.rgb.shape[:2]
    assert all(x + w <= W and y + h <= H and 150 <= w <= 260 for x, y, w, h in a.tiles)
    with pytest.raises(ValueError):
        collages.make_collage([], np.random.default_rng(0))


def test_a_check_that_raises_is_reported_not_hidden(caplog):
    """eval/questions.py: a check that raises counts as not consistent, but it is logged, counted apart
    (checker_errors, in the JSON only when it happened) and marked in the failures."""
    from types import SimpleNamespace

    from facelens.eval import questions

    def broken(reply):
        raise KeyError("no such slot")

    case = questions.Case("count", "how many people are smiling?", "count", {}, None, False, broken)
    reply = SimpleNamespace(intent="count", faces=[1], text="1 of 3 people is smiling.", understood=None)
    t = questions.Tally()
    with caplog.at_level("WARNING", logger="facelens.eval.questions"):
        questions._score(t, case, reply, 0)
    assert t.checker_errors == 1 and t.consistent == 0 and t.total == 1
    assert "CHECK RAISED KeyError" in t.failures[0] and "raised on the reply" in caplog.text
    assert t.to_dict()["checker_errors"] == 1
    assert "checker_errors" not in questions.Tally().to_dict()
