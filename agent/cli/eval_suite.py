"""``facelens eval suite [--json] [--quick]``: every kind of input against its target; exit 1 on a miss."""

from __future__ import annotations

import argparse
import sys

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import add_data_option, add_json_flag

HELP_ORDER = 70
EVAL_COMMANDS = CommandTable()


def _fmt(v: object) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _rows(res) -> list[str]:
    out = []
    for m, v in res.metrics.items():
        t = res.targets.get(m)
        target = "" if t is None else (f"<= {t}" if m in res.maximum else f">= {t}")
        mark = "" if t is None else ("MISSED" if m in res.failed else "ok")
        out.append(f"{res.name:18s} {m:26s} {_fmt(v):>8s}  {target:>8s}  {mark}")
    if res.skipped:
        out.append(f"{res.name:18s} skipped: {res.skipped}")
    return out


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="a fixed subset of each domain (the CI gate, a few minutes)")
    add_json_flag(p, help='print {domain: {metric: value, "target": ..., "ok": bool}}')
    add_data_option(p)
    p.add_argument("--only", action="append", metavar="DOMAIN", help="run only this domain (repeatable)")


@EVAL_COMMANDS.command("suite", _arguments)
def cmd_suite(args: argparse.Namespace) -> int:
    """one check per kind of input (crowds, portraits, collages, ...) against its target

    Runs every domain of the quality suite on the shared research data and prints each figure beside its target.
    Exit status 1 when a target is missed (a domain whose data is absent is skipped).
    """
    from facelens.eval.suite import DEFAULT_DATA, run_suite

    data = args.data or DEFAULT_DATA
    if not args.json:
        print(f"{'domain':18s} {'metric':26s} {'value':>8s}  {'target':>8s}")

    def progress(res) -> None:
        if not args.json:
            print("\n".join(_rows(res)), flush=True)
        else:
            print(f"eval suite: {res.name} done in {res.seconds:.0f} s", file=sys.stderr, flush=True)

    result = run_suite(data, quick=args.quick, only=args.only, progress=progress)
    if args.json:
        print_json(result.to_dict())
    else:
        missed = [f"{d.name}.{m}" for d in result.domains for m in d.failed]
        took = sum(d.seconds for d in result.domains)
        print(
            f"{'quick' if args.quick else 'full'} suite on {result.data_root}: "
            + ("every target met" if result.ok else "MISSED " + ", ".join(missed))
            + f" ({took:.0f} s)"
        )
    return 0 if result.ok else 1
