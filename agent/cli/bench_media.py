"""``facelens bench transcribe`` and ``facelens bench ingest``: parsing and printing (the measurements are in facelens.eval.bench_media).

Both use generated media when no file is given: espeak-ng speech, and a 640 x 480 video of one
public-domain face with that speech muxed in. Models are loaded and warmed before timing.
"""

from __future__ import annotations

import argparse

from facelens.agent.cli import CommandTable, emit
from facelens.agent.cli.options import add_json_flag
from facelens.eval.bench_media import bench_ingest, bench_transcribe

HELP_ORDER = 10
BENCH_COMMANDS = CommandTable()


def _transcribe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="audio files (default: generated espeak-ng speech)")
    p.add_argument("--model", default=None)
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--seconds", type=float, default=30.0, help="length of the generated speech")
    add_json_flag(p)


@BENCH_COMMANDS.command("transcribe", _transcribe_arguments)
def _cmd_transcribe(args: argparse.Namespace) -> int:
    """speech transcription real-time factor (warm model)"""
    return emit(args, bench_transcribe(args.files, args.model, args.beam_size, args.seconds), _print_transcribe)


def _print_transcribe(out) -> None:
    print(
        f"{out['model']}: real-time factor {out['real_time_factor']:.2f} ({out['audio_seconds']:.0f} s of audio in {out['transcribe_seconds']:.1f} s; model load {out['model_load_seconds']:.1f} s)"
    )


def _ingest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None, help="a video (default: generated, 640x480, one face, speech)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the generated video")
    p.add_argument("--fps", type=float, default=2.0)
    add_json_flag(p)


@BENCH_COMMANDS.command("ingest", _ingest_arguments)
def _cmd_ingest(args: argparse.Namespace) -> int:
    """session ingest speed on a 640x480 one-face video (warm models)"""
    return emit(args, bench_ingest(args.file, args.seconds, args.fps), _print_ingest)


def _print_ingest(out) -> None:
    print(
        f"ingest of {out['duration']:.0f} s {out['width']}x{out['height']}: {out['ingest_seconds']:.1f} s = {out['speed_x_real_time']:.2f}x real time "
        f"(CPU {out['cpu_seconds']:.1f} s; video alone {out['video_only_seconds']:.1f} s, {out['video_ms_per_frame']:.0f} ms/frame; transcription alone {out['transcribe_only_seconds']:.1f} s; load {out['load_average'][0]})"
    )
