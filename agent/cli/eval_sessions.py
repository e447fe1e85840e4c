"""``facelens eval session-questions [--split tune|heldout|both] [--json] [--failures]``: analysts' questions."""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import add_json_flag

HELP_ORDER = 60
EVAL_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--split", choices=["tune", "heldout", "both"], default="both")
    add_json_flag(p)
    p.add_argument("--failures", action="store_true", help="list the questions answered wrongly")


@EVAL_COMMANDS.command("session-questions", _arguments)
def cmd_session_questions(args: argparse.Namespace) -> int:
    """analysts' questions about sessions: paraphrases on generated sessions

    Ask every phrasing of the session-question families of one split about two generated sessions (in a temporary
    FACELENS_HOME) and report intent accuracy and consistent answers. Exit 1 when a target is missed.
    """
    from facelens.eval.session_questions import SPLITS, evaluate

    splits = SPLITS if args.split == "both" else (args.split,)
    results = {s: evaluate(s) for s in splits}
    missed = any(r[m] < t for r in results.values() for m, t in r["targets"].items())  # type: ignore[union-attr]
    if args.json:
        print_json({s: {k: v for k, v in r.items() if args.failures or k != "failures"} for s, r in results.items()})
        return 1 if missed else 0
    for s, r in results.items():
        print(
            f"{s}: {r['questions']} questions, intent {r['intent_accuracy']:.3f} (target {r['targets']['intent_accuracy']}), "
            f"consistent {r['consistent']:.3f} (target {r['targets']['consistent']}), "
            f"scope {r['scope']:.3f} (target {r['targets']['scope']})"
            + (
                f", yes/no form {r['yes_no_form']:.3f} ({r['yes_no_questions']} yes/no questions)"
                if r.get("yes_no_form") is not None
                else ""
            )
        )
        for fam, f in r["by_family"].items():  # type: ignore[union-attr]
            print(
                f"  {fam:<14} n={f['n']:<3} intent {f['intent_accuracy']:.3f}  consistent {f['consistent']:.3f}  scope {f['scope']:.3f}"
            )
        if args.failures:
            for f in r["failures"]:  # type: ignore[union-attr]
                print(
                    f"  FAIL {f['family']}: {f['question']!r} -> {f['intent']} {f['sessions']}: {f['answer'][:120]!r}"
                )
    return 1 if missed else 0
