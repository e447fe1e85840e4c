"""``facelens analyze``: everything facelens sees in a photo, as text or JSON."""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import add_detector_option, add_json_flag

HELP_ORDER = 20
COMMANDS = CommandTable()


def describe_face(f) -> str:
    """One human-readable line for a face of a SceneAnalysis."""
    pos = f.position
    parts = [f"Face {f.id} ({pos.horizontal}, {pos.index} of {pos.of} from the left)"]
    if f.identity is not None:
        parts.append(
            f"{f.identity.name} (distance {f.identity.distance:.2f})"
            if f.identity.known
            else f"unknown (nearest distance {f.identity.distance:.2f})"
        )
    if f.emotion is not None:
        parts.append(f"looks {f.emotion.label} ({f.emotion.confidence:.0%})")
    if f.age is not None:
        parts.append(f"apparent age ~{f.age:.0f} ({f.age_group})")
    if f.gender is not None:
        parts.append(f"{f.gender.label} ({f.gender.score:.0%})")
    if f.appearance.clothing_colour:
        parts.append(f"{f.appearance.clothing_colour} clothing")
    return ", ".join(parts)


def _analyze_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", help="photo (JPEG, PNG, WebP, BMP, TIFF)")
    add_json_flag(p, help="print the full analysis as JSON")
    p.add_argument("--no-cache", action="store_true", help="recompute even if this photo was analysed before")
    add_detector_option(p)


@COMMANDS.command("analyze", _analyze_arguments)
def cmd_analyze(args: argparse.Namespace) -> int:
    """detect and describe every face in a photo"""
    from facelens.tools import faces
    from facelens.tools.scene import analyze_image

    scene = analyze_image(args.image, detector=args.detector or faces.DEFAULT_DETECTOR, use_cache=not args.no_cache)
    if args.json:
        print_json(scene.model_dump(mode="json"))
        return 0
    img = scene.image
    print(f"{img.source}: {img.width}x{img.height} {img.format}, {len(scene.faces)} face(s) [{scene.detector}]")
    for f in scene.faces:
        print("  " + describe_face(f))
    return 0


def _example_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--six", action="store_true", help="the 1280x720 six-person photo used by `facelens bench analyze`")


@COMMANDS.command("example", _example_arguments)
def cmd_example(args: argparse.Namespace) -> int:
    """print the path of the example group photo shipped with facelens"""
    from facelens.tools.models import package_data_path

    print(package_data_path("examples", "six.jpg" if args.six else "group.jpg"))
    return 0
