"""``facelens live``: the emotion-aware assistant in real time (camera + microphone, or files standing in)."""

from __future__ import annotations

import argparse
import json
import sys

from facelens.agent.cli import CommandTable
from facelens.agent.cli.options import add_backend_option, add_json_flag

HELP_ORDER = 120
COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", nargs="*", help="photos to ask about (never read as your face)")
    p.add_argument(
        "--camera",
        default=None,
        metavar="DEVICE|FILE",
        help="camera number (0) or a video file; left out: no camera, the mood comes from voice and words",
    )
    p.add_argument(
        "--mic",
        default=None,
        metavar="DEVICE|FILE",
        help="microphone number or a wav file (default: the default microphone)",
    )
    p.add_argument("--speak", action="store_true", help="read replies aloud (espeak-ng, offline)")
    add_backend_option(p, help="who answers (as facelens chat)")
    p.add_argument("--record", default=None, metavar="DIR", help="keep each turn's audio and a turns.jsonl in DIR")
    add_json_flag(p, help="print one JSON object per turn instead of the chat text")


@COMMANDS.command("live", _arguments)
def cmd_live(args: argparse.Namespace) -> int:
    """the emotion-aware assistant in real time: camera, microphone, spoken replies

    Talk to facelens: your face (camera) is read continuously, each spoken turn is transcribed and answered, and the
    mood of your face, voice and words shapes the reply. A video file and a wav file can stand in for camera and
    microphone. Ctrl-C stops. Nothing is kept unless --record DIR.
    """
    from facelens.agent.assistant import live

    is_tty = sys.stderr.isatty()

    def status(s: live.LiveStatus) -> None:
        if args.json:
            return
        if is_tty:
            sys.stderr.write("\r\x1b[2K" + s.line())
            if s.state == "stopped":
                sys.stderr.write("\n")
        elif s.state in ("listening", "stopped"):
            sys.stderr.write(s.line() + "\n")
        sys.stderr.flush()

    def turn(t: live.Turn) -> None:
        if args.json:
            print(json.dumps(t.to_dict(), ensure_ascii=False), flush=True)
            return
        if is_tty:
            sys.stderr.write("\r\x1b[2K")
        print(f"you> {t.question}\n     [{t.mood}]\nfacelens> {t.reply}", flush=True)

    report = live.run(
        camera=args.camera,
        mic=args.mic,
        images=args.images,
        backend=args.backend,
        speak=args.speak,
        record=args.record,
        on_status=status,
        on_turn=turn,
    )
    if not args.json:
        print(
            f"{len(report.turns)} turn(s); camera: {report.camera}"
            + (f", {report.frames} frames at {report.face_fps:.1f} frames/s of analysis" if report.frames else ""),
            file=sys.stderr,
        )
    return 0
