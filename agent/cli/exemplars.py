"""``facelens exemplars add|list|remove`` (few-shot exemplars) and ``facelens describe`` (the VLM describe tool)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from facelens.agent.cli import CommandTable, emit, print_json
from facelens.agent.cli.options import add_allow_cloud_images_flag, add_json_flag, add_vlm_option

if TYPE_CHECKING:
    from facelens.tools.exemplars import Exemplar

HELP_ORDER = 40
COMMANDS = CommandTable()


EXEMPLARS = COMMANDS.group("exemplars", "few-shot exemplars shown to a VLM before the query face")


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--label", required=True, help="one of angry, disgust, fear, happy, neutral, sad, surprise")
    p.add_argument("--note", help="short description of the expression, e.g. 'wrinkled nose, raised upper lip'")
    p.add_argument(
        "--crop",
        action="store_true",
        help="the image is already a tight face crop (use it whole if no face is detected)",
    )
    add_json_flag(p)


@EXEMPLARS.command("add", _add_arguments)
def cmd_add(args: argparse.Namespace) -> int:
    """add a labelled face image"""
    from facelens.tools.exemplars import ExemplarStore

    return emit(args, ExemplarStore().add(args.image, args.label, args.note, assume_crop=args.crop), _print_added)


def _print_added(ex: Exemplar) -> None:
    print(
        f"Added exemplar {ex.id} ({ex.label}{': ' + ex.note if ex.note else ''}). Its face crop and embedding stay in FACELENS_HOME."
    )


@EXEMPLARS.command("list", add_json_flag)
def cmd_list(args: argparse.Namespace) -> int:
    """list the exemplars (built-in and your own)"""
    from facelens.tools.exemplars import ExemplarStore

    return emit(args, ExemplarStore().list(), _print_list)


def _print_list(items: list[Exemplar]) -> None:
    for e in items:
        tag = " (built in)" if e.builtin else ""
        print(f"{e.id:28s} {e.label:9s} {e.note or ''}{tag}")
    if not any(not e.builtin for e in items):
        print(
            "No exemplars of your own yet: add some with `facelens exemplars add IMAGE --label LABEL`.", file=sys.stderr
        )


def _remove_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", metavar="ID")
    add_json_flag(p)


@EXEMPLARS.command("remove", _remove_arguments)
def cmd_remove(args: argparse.Namespace) -> int:
    """delete one of your exemplars"""
    from facelens.tools.exemplars import ExemplarStore

    return emit(args, ExemplarStore().remove(args.id), _print_removed)


def _print_removed(ex: Exemplar) -> None:
    print(f"Removed exemplar {ex.id} ({ex.label}): its crop and embedding are deleted.")


@EXEMPLARS.command("repair")
def cmd_repair(args: argparse.Namespace) -> int:
    """restore the last good generation of a damaged exemplar store"""
    from facelens.tools.exemplars import ExemplarStore

    print(ExemplarStore(builtins=False).repair())
    return 0


def _describe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--face", type=int, default=1, help="face number (1 = leftmost; see `facelens analyze`)")
    p.add_argument("--question", help="the question, passed to the VLM as context")
    add_vlm_option(p)
    p.add_argument("--shots", type=int, default=0, help="nearest few-shot exemplars to show first (default 0)")
    p.add_argument("--no-cloud", action="store_true", help="never send the face crop off this machine")
    add_allow_cloud_images_flag(
        p, help="allow sending the face crop to a cloud VLM (default: FACELENS_ALLOW_CLOUD_IMAGES or config)"
    )
    add_json_flag(p)


@COMMANDS.command("describe", _describe_arguments)
def cmd_describe(args: argparse.Namespace) -> int:
    """describe one face with a VLM (expression, emotion, visible attributes)"""
    from facelens.tools.vlm import describe_face

    d = describe_face(
        args.image,
        args.face,
        question=args.question,
        backend=args.vlm,
        shots=args.shots,
        allow_cloud=False if args.no_cloud else (True if args.allow_cloud_images else None),
    )
    code = 1 if d.status == "no_model" else 0  # nothing could describe the face
    if args.json:
        print_json(d.model_dump(mode="json"))
        return code
    print(f"face {d.face_id} ({d.backend}, {d.status}):")
    if d.expression:
        print(f"  expression: {d.expression}")
    if d.emotion:
        print(f"  looks {d.emotion} (confidence {d.confidence:.2f})")
    if d.compound_emotions:
        print(f"  also: {', '.join(d.compound_emotions)}")
    if d.fusion:
        print(f"  evidence: {d.fusion.evidence}")
    a = d.attributes
    seen = {k: v for k, v in a.model_dump().items() if v not in (None, [], False)}
    if seen:
        print(
            "  visible: "
            + "; ".join(
                f"{k.replace('_', ' ')}: {', '.join(v) if isinstance(v, list) else ('yes' if v is True else v)}"
                for k, v in seen.items()
            )
        )
    if d.images_left_machine:
        print(f"  note: the face crop was sent to {d.backend}")
    for n in d.notes:
        print(f"  note: {n}")
    return code


def cmd_eval_vlm(args: argparse.Namespace) -> int:
    """``facelens eval emotion DIR --vlm [--shots K] [--limit N]``: zero-shot vs k-shot VLM accuracy."""
    from facelens.eval.vlm import evaluate_vlm, summary

    r = evaluate_vlm(args.dir, shots=args.shots, limit_per_class=args.limit, crops=getattr(args, "crops", False))
    if args.json:
        print_json(r.model_dump(mode="json"))
    else:
        print(summary(r))
    return 0
