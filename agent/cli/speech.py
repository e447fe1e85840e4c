"""``facelens transcribe FILE... [--json]``: speech to text with timestamps (one model load for all files)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from facelens.agent.cli import CommandTable, print_json
from facelens.agent.cli.options import add_json_flag
from facelens.tools import media

HELP_ORDER = 70
COMMANDS = CommandTable()


def _affect(transcript, audio) -> list:
    """Per utterance: the voice cues (relative to the speaker's other utterances), the words' emotion
    and the fused estimate."""
    from pydantic import BaseModel

    from facelens.agent.sessions.affect import AffectEstimate, fuse, words_emotion
    from facelens.agent.sessions.ingest import utterance_spans
    from facelens.tools import prosody

    class Turn(BaseModel):
        start: float
        end: float
        text: str
        affect: AffectEstimate

    spans = utterance_spans(transcript)
    feats = [
        prosody.measure(audio[int(a * media.SAMPLE_RATE) : int(b * media.SAMPLE_RATE)], words=len(x.split()))
        for a, b, x in spans
    ]
    base = prosody.baseline_of(feats) if len(feats) >= 3 else None
    return [
        Turn(start=a, end=b, text=x, affect=fuse(voice=prosody.cues_from(f, base), words=words_emotion(x)))
        for (a, b, x), f in zip(spans, feats)
    ]


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio or video files (any format FFmpeg decodes)")
    add_json_flag(p, help='print [{"file", "text", "segments", "duration", "language"}, ...]')
    p.add_argument("--model", default=None, help="faster-whisper model name or folder (default: the bundled tiny.en)")
    p.add_argument(
        "--backend",
        default=None,
        choices=["faster-whisper", "openai-whisper", "openai"],
        help="speech backend (default: faster-whisper, or FACELENS_SPEECH_BACKEND)",
    )
    p.add_argument("--language", default=None, help="force a language code (default: detect)")
    p.add_argument("--words", action="store_true", help="include word timestamps in the JSON")
    p.add_argument("--timestamps", action="store_true", help="print segment times in the text output")
    p.add_argument(
        "--affect",
        action="store_true",
        help="per sentence: voice cues, the words' emotion and the fused estimate (JSON key 'affect')",
    )


@COMMANDS.command("transcribe", _arguments)
def cmd_transcribe(args: argparse.Namespace) -> int:
    """transcribe audio or video files (offline Whisper by default)"""
    from facelens.tools.errors import FacelensError
    from facelens.tools.speech import Transcriber

    transcriber = Transcriber(model=args.model, backend=args.backend, language=args.language)
    results: list[dict] = []
    failed = 0
    for i, path in enumerate(args.files, 1):
        if len(args.files) > 1:
            print(f"[{i}/{len(args.files)}] {path}", file=sys.stderr)
        try:
            if args.affect:
                audio = media.load_audio(path)
                t = dataclasses.replace(transcriber.transcribe(audio, words=True), file=path)
            else:
                t = transcriber.transcribe(path, words=args.words)
        except FacelensError as exc:
            if len(args.files) == 1:
                raise
            # one bad file in a batch: report it in place and go on with the rest
            failed += 1
            print(f"facelens: {path}: {exc}", file=sys.stderr)
            results.append({"file": path, **exc.to_dict()})
            continue
        turns = _affect(t, audio) if args.affect else []
        if args.json:
            results.append(
                {**t.to_dict(words=args.words), **({"affect": [u.model_dump() for u in turns]} if args.affect else {})}
            )
        else:
            if len(args.files) > 1:
                print(f"== {path} ({t.duration:.1f} s, {t.language})")
            for s in t.segments:
                print(f"[{s.start:7.2f} -> {s.end:7.2f}] {s.text}" if args.timestamps else s.text)
            for u in turns:
                print(f"  [{u.start:7.2f} -> {u.end:7.2f}] {u.affect.summary}")
            if not t.segments:
                print("(no speech)")
    if args.json:
        print_json(results)
    return 2 if failed else 0
