"""``facelens bench transcribe`` and ``facelens bench ingest``: parsing and printing (the measurements are in facelens.eval.bench_media).

Both use generated media when no file is given: espeak-ng speech, and a 640 x 480 video of one
public-domain face with that speech muxed in. Models are loaded and warmed before timing.
"""

from __future__ import annotations

import argparse

from facelens.agent.cli import Command, print_json
from facelens.agent.cli.options import add_json_flag
from facelens.eval.bench_media import bench_ingest, bench_transcribe

HELP_ORDER = 10


def _cmd_transcribe(args: argparse.Namespace) -> int:
    out = bench_transcribe(args.files, args.model, args.beam_size, args.seconds)
    if args.json:
        print_json(out)
    else:
        print(
            f"{out['model']}: real-time factor {out['real_time_factor']:.2f} ({out['audio_seconds']:.0f} s of audio in {out['transcribe_seconds']:.1f} s; model load {out['model_load_seconds']:.1f} s)"
        )
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    out = bench_ingest(args.file, args.seconds, args.fps)
    if args.json:
        print_json(out)
    else:
        print(
            f"ingest of {out['duration']:.0f} s {out['width']}x{out['height']}: {out['ingest_seconds']:.1f} s = {out['speed_x_real_time']:.2f}x real time "
            f"(CPU {out['cpu_seconds']:.1f} s; video alone {out['video_only_seconds']:.1f} s, {out['video_ms_per_frame']:.0f} ms/frame; transcription alone {out['transcribe_only_seconds']:.1f} s; load {out['load_average'][0]})"
        )
    return 0


def _transcribe_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="*", metavar="FILE", help="audio files (default: generated espeak-ng speech)")
    p.add_argument("--model", default=None)
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--seconds", type=float, default=30.0, help="length of the generated speech")
    add_json_flag(p)


def _ingest_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None, help="a video (default: generated, 640x480, one face, speech)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the generated video")
    p.add_argument("--fps", type=float, default=2.0)
    add_json_flag(p)


BENCH_COMMANDS = {
    "transcribe": Command(
        _cmd_transcribe, help="speech transcription real-time factor (warm model)", arguments=_transcribe_arguments
    ),
    "ingest": Command(
        _cmd_ingest,
        help="session ingest speed on a 640x480 one-face video (warm models)",
        arguments=_ingest_arguments,
    ),
}
