"""``facelens bench live``: frames per second of the live face loop and the spoken-turn -> reply time.
The logic is in :mod:`facelens.eval.bench_live`."""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable, emit
from facelens.agent.cli.options import add_json_flag

HELP_ORDER = 40
BENCH_COMMANDS = CommandTable()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", type=int, default=100, help="frames of the face loop to time (default 100)")
    p.add_argument("--turns", type=int, default=10, help="spoken 3-second questions to time (default 10)")
    p.add_argument("--speak", action="store_true", help="also time the first spoken audio of each reply")
    add_json_flag(p)


@BENCH_COMMANDS.command("live", _arguments)
def _cmd(args: argparse.Namespace) -> int:
    """facelens live: face-loop frames/s at 640x480 and spoken turn -> reply time"""
    from facelens.eval.bench_live import bench_live

    return emit(args, bench_live(args.frames, args.turns, args.speak), _print_live)


def _print_live(res) -> None:
    f, t = res["face_loop"], res["turns"]
    print(
        f"face loop ({f['size']}, one face, {f['detector']}): {f['fps']} frames/s ({f['ms_per_frame']} ms a frame; "
        f"face found in {f['face_found']:.0%} of {f['frames']} frames); {res['cpu_cores']} CPU cores"
    )
    print(
        f"spoken turn ({t['question_seconds']:.0f} s question, {t['turns']} turns, warm): end of speech -> reply text "
        f"median {t['end_of_speech_to_reply_s_median']} s, max {t['end_of_speech_to_reply_s_max']} s "
        f"(of which {t['endpoint_silence_s']} s is the pause that ends a turn)"
    )
    if "end_of_speech_to_first_audio_s_median" in t:
        print(f"  -> first spoken audio (espeak-ng): median {t['end_of_speech_to_first_audio_s_median']} s")
