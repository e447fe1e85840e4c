"""``facelens eval planner``: the offline planner's accuracy on composed multi-person scenes."""

from __future__ import annotations

import argparse
import sys

from facelens.agent.cli import print_json


def register_eval(esub: argparse._SubParsersAction) -> None:
    p = esub.add_parser("planner", help="offline planner accuracy on generated multi-person scenes with known answers")
    p.add_argument("--scenes", type=int, default=12, help="number of composed scenes (2-5 people each; default 12)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the scene layouts and synthetic emotion scores")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_planner)


def cmd_planner(args: argparse.Namespace) -> int:
    from facelens.agent.planner_eval import evaluate
    from facelens.tools.errors import InputError

    if not 1 <= args.scenes <= 200:
        raise InputError("--scenes must be between 1 and 200.")
    result = evaluate(args.scenes, args.seed, progress=None if args.json else lambda m: print(m, file=sys.stderr))
    if args.json:
        print_json(result.to_dict())
        return 0
    print(f"planner accuracy: {result.correct}/{result.questions} = {result.accuracy:.1%} "
          f"({result.detection_ok}/{result.scenes} scenes with every person detected)")
    for fam, (c, t) in sorted(result.by_family.items()):
        print(f"  {fam:18s} {c:4d}/{t:<4d} {c / t:.0%}")
    for f in result.failures[:20]:
        print("  FAIL " + f)
    return 0
