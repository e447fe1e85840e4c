"""``facelens eval emotion DIR`` and ``facelens eval attributes DIR``: parsing and printing.

The evaluations themselves live in :mod:`facelens.eval.models`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pydantic import BaseModel

from facelens.agent.cli import CommandTable
from facelens.agent.cli.options import add_json_flag
from facelens.eval.models import (
    AttributeEvaluation,
    EmotionEvaluation,
    evaluate_attributes,
    evaluate_emotion,
)

HELP_ORDER = 10
EVAL_COMMANDS = CommandTable()


def _print(result: BaseModel, as_json: bool, summary: Callable[[BaseModel], str]) -> None:
    from facelens.agent.cli import print_json

    if as_json:
        print_json(result.model_dump())
    else:
        print(summary(result))


def _emotion_summary(r: EmotionEvaluation) -> str:
    lines = [
        f"emotion: accuracy {r.accuracy:.3f}, macro F1 {r.macro_f1:.3f} over {r.n} images ({r.no_face} without a face)"
    ]
    for lab, m in r.per_class.items():
        lines.append(f"  {lab:9s} precision {m.precision:.3f} recall {m.recall:.3f} f1 {m.f1:.3f} support {m.support}")
    for name, counts in r.unknown_classes.items():
        lines.append(f"  not a model class: {name} -> {counts}")
    if r.errors:
        lines.append(f"  {len(r.errors)} unreadable image(s), e.g. {r.errors[0]['file']}: {r.errors[0]['error']}")
    return "\n".join(lines)


def _attr_summary(r: AttributeEvaluation) -> str:
    mae = f"{r.age_mae:.1f} years" if r.age_mae is not None else "n/a"
    text = (
        f"gender accuracy {r.gender_accuracy:.3f}, age-group accuracy {r.age_group_accuracy:.3f}, "
        f"age MAE {mae} over {r.n} images ({r.no_face} without a face)"
    )
    if r.errors:
        text += f"\n  {len(r.errors)} unreadable image(s), e.g. {r.errors[0]['file']}: {r.errors[0]['error']}"
    return text


def _emotion_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="folder with one sub-folder per emotion class")
    p.add_argument("--crops", action="store_true", help="images are face crops: skip detection")
    p.add_argument("--detector", default="hog", help="face detector when not --crops (default: hog)")
    p.add_argument("--vlm", action="store_true", help="score the configured VLM zero-shot and k-shot instead")
    p.add_argument("--shots", type=int, default=0, help="with --vlm: nearest exemplars shown per image (k-shot pass)")
    p.add_argument("--limit", type=int, default=None, help="with --vlm: at most N images per class")
    add_json_flag(p, help="print the result as JSON")


@EVAL_COMMANDS.command("emotion", _emotion_arguments)
def _run_emotion(args: argparse.Namespace) -> int:
    """accuracy of the emotion model on DIR/<class>/*.jpg"""
    if getattr(args, "vlm", False):  # VLM zero-shot vs k-shot: facelens.eval.vlm (issue 5)
        from facelens.agent.cli.exemplars import cmd_eval_vlm

        return cmd_eval_vlm(args)
    _print(evaluate_emotion(args.dir, crops=args.crops, detector=args.detector), args.json, _emotion_summary)
    return 0


def _attribute_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", metavar="DIR", help="folder with images and labels.csv")
    p.add_argument("--detector", default="hog", help="face detector (default: hog)")
    add_json_flag(p, help="print the result as JSON")


@EVAL_COMMANDS.command("attributes", _attribute_arguments)
def _run_attributes(args: argparse.Namespace) -> int:
    """age/gender accuracy on DIR with labels.csv (file,age,gender)"""
    _print(evaluate_attributes(args.dir, detector=args.detector), args.json, _attr_summary)
    return 0
