"""``facelens eval wild-photos [--split tune|heldout|both] [--json] [--failures]``: questions about real
photos, judged strictly against truths a person wrote down (facelens.eval.wild_photos).

The held-out split reports totals per kind only; its individual failures are never shown.
"""

from __future__ import annotations

import argparse
import sys

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import add_data_option, add_json_flag

HELP_ORDER = 80
EVAL_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--split",
        choices=("tune", "heldout", "both"),
        default="both",
        help="tune (may be tuned on), heldout (never tuned on; totals only), or both (default)",
    )
    add_json_flag(p, help="print the result as JSON")
    p.add_argument(
        "--failures", action="store_true", help="list every failure of the tune split (never the held-out one's)"
    )
    add_data_option(p)


@EVAL_COMMANDS.command("wild-photos", _arguments)
def cmd_wild(args: argparse.Namespace) -> int:
    """real photos, true answers written by a person: counts, smiles, ages, genders, colours, positions

    Asks the offline assistant every question of the wild-photos set (41 real photos from the shared data) and
    judges each answer strictly: the right number first, Yes/No first and true, the right person, no hedging. Prints
    accuracy overall and per kind for each split.
    """
    from facelens.eval.wild_photos import KINDS, TARGETS, evaluate

    result = evaluate(args.split, args.data, progress=lambda m: print(m, file=sys.stderr, flush=True))
    if not args.failures:
        for r in result["splits"].values():
            r.pop("failures", None)
    if args.json:
        print_json(result)
        return 0
    print(
        f"wild-photos (targets on the held-out split: accuracy >= {TARGETS['accuracy']}, each kind >= {TARGETS['each_kind']})"
    )
    if not result["heldout_pinned"]:
        print("WARNING: the held-out question file differs from its pinned SHA-256 (edited?)")
    for name, r in result["splits"].items():
        print(
            f"\n{name}: {r['correct']}/{r['questions']} = {r['accuracy']:.3f} ({r['photos']} photos, {r['seconds']:.0f} s)"
        )
        for k in KINDS:
            if k in r["by_kind"]:
                v = r["by_kind"][k]
                print(f"  {k:16s} {v['correct']:4d}/{v['total']:<4d} {v['accuracy']:.3f}")
        if args.failures and name == "heldout":
            print("  (held-out failures are never listed)")
        for f in r.get("failures", []):
            print(f"  FAIL [{f['kind']}] {f['photo']}: {f['question']!r} -> {f['answer'][:160]!r} ({f['why']})")
    return 0
