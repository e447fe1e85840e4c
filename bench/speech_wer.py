"""Word error rate of facelens transcription on a folder of reference clips.

Reads LibriSpeech-style ``*.trans.txt`` files (``ID TEXT`` per line, audio in ``ID.flac``) and
``NAME.txt`` files next to ``NAME.wav``; normalises case and punctuation; prints per-clip and
overall WER (total edits / total reference words), and the real-time factor.

    python bench/speech_wer.py /work/shared/data/speech [--model tiny.en] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from facelens.eval.speech import edits  # word-level Levenshtein, shared with the short-question bench


def normalise(text: str) -> list[str]:
    text = text.lower().replace("’", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def references(folder: Path) -> list[tuple[Path, str]]:
    out = []
    for trans in sorted(folder.glob("*.trans.txt")):
        for line in trans.read_text().splitlines():
            if line.strip():
                utt, text = line.split(" ", 1)
                out.append((folder / f"{utt}.flac", text))
    for txt in sorted(folder.glob("*.txt")):
        if not txt.name.endswith(".trans.txt"):
            audio = next(
                (txt.with_suffix(ext) for ext in (".wav", ".flac", ".mp3", ".ogg") if txt.with_suffix(ext).exists()),
                None,
            )
            if audio:
                out.append((audio, txt.read_text().strip()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--backend", default=None)
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument(
        "--rate", type=int, default=None, help="first resample every clip to this rate (8000 = telephone quality)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from facelens.tools.speech import Transcriber

    t0 = time.perf_counter()
    tr = Transcriber(args.model, args.backend, beam_size=args.beam_size).load()
    load_s = time.perf_counter() - t0
    rows, total_edits, total_words, audio_s, proc_s = [], 0, 0, 0.0, 0.0
    import tempfile

    from facelens.eval import media as sample_media
    from facelens.tools import media

    tmp = tempfile.TemporaryDirectory()
    for audio, ref in references(args.folder):
        if args.rate:  # telephone-quality copy: FFmpeg's resampler low-passes it, stored at args.rate
            audio = sample_media.write_audio(
                Path(tmp.name) / f"{audio.stem}-{args.rate}.wav", media.load_audio(audio), rate=args.rate
            )
        t = tr.transcribe(audio)
        r, h = normalise(ref), normalise(t.text)
        e = edits(r, h)
        total_edits += e
        total_words += len(r)
        audio_s += t.duration
        proc_s += t.seconds
        rows.append(
            {
                "file": audio.name,
                "wer": round(e / max(1, len(r)), 4),
                "words": len(r),
                "edits": e,
                "hypothesis": t.text,
                "duration": t.duration,
                "seconds": t.seconds,
            }
        )
        print(f"{audio.name}: WER {e / max(1, len(r)):.1%} ({e}/{len(r)})  {t.text}", file=sys.stderr)
    result = {
        "model": f"{tr.backend}:{tr.model}",
        "beam_size": tr.beam_size,
        "sample_rate": args.rate or "original",
        "clips": len(rows),
        "wer": round(total_edits / max(1, total_words), 4),
        "edits": total_edits,
        "reference_words": total_words,
        "audio_seconds": round(audio_s, 2),
        "transcribe_seconds": round(proc_s, 2),
        "real_time_factor": round(proc_s / max(audio_s, 1e-9), 3),
        "model_load_seconds": round(load_s, 2),
        "per_clip": rows,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"WER {result['wer']:.1%} over {total_words} words in {len(rows)} clips; real-time factor {result['real_time_factor']:.2f} (model load {load_s:.1f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
