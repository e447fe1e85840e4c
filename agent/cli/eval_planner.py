"""``facelens eval planner``: how well the offline planner understands and answers questions.

By default: the paraphrase evaluation (eval/questions.py) on generated scenes, the tune and the
held-out split reported separately: intent accuracy, slot accuracy, answers consistent with the
tools, yes/no form and wrong-person answers. ``--composed`` runs the older evaluation on real
composed photos (detection included) instead.
"""

from __future__ import annotations

import argparse
import sys

from facelens.agent.cli import CommandTable, emit, print_json
from facelens.agent.cli.options import add_json_flag

HELP_ORDER = 40
EVAL_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--split",
        choices=("tune", "tune2", "tune3", "tune4", "heldout", "both"),
        default="both",
        help="question split: tune, tune2, tune3 or tune4 (may be tuned on), heldout (never tuned on), or both (all five, default)",
    )
    p.add_argument("--quick", action="store_true", help="2 generated scenes instead of 5")
    p.add_argument(
        "--scenes",
        type=int,
        default=None,
        help="number of scenes (paraphrase evaluation: generated, default 5; --composed: real composed photos, default 12)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the scenes and fillers")
    p.add_argument(
        "--composed", action="store_true", help="the older evaluation on real composed photos (runs detection; slower)"
    )
    p.add_argument("--failures", type=int, default=10, help="how many failures to list per split (default 10)")
    add_json_flag(p, help="print the result as JSON")


@EVAL_COMMANDS.command("planner", _arguments)
def cmd_planner(args: argparse.Namespace) -> int:
    """offline planner: intent, slots, consistent answers, yes/no form, wrong-person answers"""
    from facelens.tools.errors import InputError

    if args.scenes is not None and not 1 <= args.scenes <= 200:
        raise InputError("--scenes must be between 1 and 200.")
    if args.composed:
        return _composed(args)
    from facelens.eval.questions import evaluate_planner

    result = evaluate_planner(args.split, quick=args.quick, scenes=args.scenes, seed=args.seed)
    if args.json:
        print_json(result)
        return 0
    splits = result["splits"] if "splits" in result else {args.split: result}
    targets = next(iter(splits.values()))["targets"]
    print(
        "offline planner, paraphrase evaluation on generated scenes "
        f"(targets: intent >= {targets['intent_accuracy']}, consistent >= {targets['consistent']}, "
        f"yes/no form {targets['yes_no_form']:.2f}, wrong-person {targets['wrong_person']})"
    )
    for name, r in splits.items():
        print(f"\n{name} ({r['questions']} questions, {r['scenes']} scenes):")
        print(f"  intent accuracy   {r['intent_accuracy']:.3f}")
        print(
            f"  slot accuracy     {r['slot_accuracy']:.3f}"
            if r["slot_accuracy"] is not None
            else "  slot accuracy     n/a"
        )
        print(f"  consistent        {r['consistent']:.3f}")
        print(f"  yes/no form       {r['yes_no_form']:.3f}  ({r['yes_no_questions']} yes/no questions)")
        print(f"  wrong-person      {r['wrong_person']}")
        print(
            f"  bare head counts  {r.get('bare_counts', 0)}  (a count asked with a condition, answered with everyone)"
        )
        weak = {k: v for k, v in r["by_family"].items() if v["consistent"] < v["total"]}
        for fam, v in sorted(weak.items()):
            print(f"    {fam:22s} {v['consistent']:4d}/{v['total']:<4d}")
        for f in r["failures"][: args.failures]:
            print("    FAIL " + f)
    return 0


def _composed(args: argparse.Namespace) -> int:
    from facelens.eval.planner import evaluate

    n = args.scenes or 12
    return emit(
        args,
        evaluate(n, args.seed, progress=None if args.json else lambda m: print(m, file=sys.stderr)),
        _print_composed,
    )


def _print_composed(result) -> None:
    print(
        f"planner accuracy: {result.correct}/{result.questions} = {result.accuracy:.1%} "
        f"({result.detection_ok}/{result.scenes} scenes with every person detected)"
    )
    for fam, (c, t) in sorted(result.by_family.items()):
        print(f"  {fam:18s} {c:4d}/{t:<4d} {c / t:.0%}")
    for f in result.failures[:20]:
        print("  FAIL " + f)
