"""``facelens eval detection DIR``: face detection recall, precision and speed on annotated photos."""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable, emit
from facelens.agent.cli.options import add_json_flag

HELP_ORDER = 20
EVAL_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    from facelens.tools.faces import DEFAULT_DETECTOR

    p.add_argument("folder", help="folder with the photos and boxes.json")
    p.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        help=f"detector to evaluate (default {DEFAULT_DETECTOR}; see facelens.tools.faces.available_detectors())",
    )
    p.add_argument("--iou", type=float, default=0.4, help="overlap needed for a match (default 0.4)")
    p.add_argument(
        "--limit", type=int, default=None, help="only N photos, evenly spaced in name order (e.g. for the slow cnn)"
    )
    add_json_flag(p, help="print the result as JSON")


@EVAL_COMMANDS.command("detection", _arguments)
def cmd_detection(args: argparse.Namespace) -> int:
    """face detection recall (easy/medium/hard), precision and seconds per photo

    Folder with photos and a boxes.json: {file: {"boxes": [[x, y, w, h], ...], "easy"/"medium"/"hard": [box
    indices]}} (WIDER FACE head boxes). Each detection is mapped to WIDER's head-box convention and matched
    one-to-one, best score first, at IoU >= --iou; recall per subset = matched / annotated; precision = matched
    detections / all detections, against all boxes.
    """
    from facelens.eval.detection import evaluate

    return emit(args, evaluate(args.folder, args.detector, iou=args.iou, limit=args.limit), _print_detection)


def _print_detection(rep) -> None:
    r = rep.recall
    print(
        f"detector {rep.detector} on {rep.n_images} photos ({rep.n_faces.get('all', 0)} annotated faces, IoU >= {rep.iou}):"
    )
    print(f"  recall  easy {r['easy']:.3f}  medium {r['medium']:.3f}  hard {r['hard']:.3f}")
    print(f"  precision {rep.precision:.3f} ({rep.n_detections} detections, matched against all annotated faces)")
    print(f"  {rep.seconds_per_image:.3f} s per photo ({rep.cpu_seconds_per_image:.3f} s CPU)")
