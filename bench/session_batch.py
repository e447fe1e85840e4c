"""Batch session ingest speed: recording-seconds ingested per wall-clock second, one after another
and on a local Ray with 1 and 2 workers (each run a fresh CLI process and FACELENS_HOME, so the Ray
start and each worker's model loading are counted, as a user sees them).

    python bench/session_batch.py [--files 4] [--seconds 20] [--runs sequential,ray1,ray2] [--folder DIR]

The recordings are generated (640x480, 25 fps, two faces taking turns, espeak-ng dialogue).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LINES = [
    "Hello, thanks for calling. How can I help you today?",
    "I am really angry. This is the third time my order is late.",
    "I am sorry about that. I will send a new one today.",
    "Okay, thank you. That is great.",
]


def make(folder: Path, files: int, seconds: float) -> list[Path]:
    from facelens.eval import media as sample_media

    out = []
    for i in range(files):
        path = folder / f"rec{i}.mp4"
        out.append(path)
        if path.exists():
            continue
        audio, shots, t, k = [], [], 0.0, i
        while t < seconds:
            a = np.concatenate([sample_media.speak(LINES[k % 4]), np.zeros(8000, np.float32)])
            audio.append(a)
            shots.append(sample_media.Shot(a.size / 16000, "astronaut" if k % 2 == 0 else "hopper"))
            t, k = t + a.size / 16000, k + 1
        shots[-1] = sample_media.Shot(shots[-1].seconds - (t - seconds), shots[-1].who)
        sample_media.make_video(path, shots, np.concatenate(audio)[: int(seconds * 16000)])
    return out


def run(name: str, files: list[Path]) -> dict:
    extra = {"sequential": [], "ray1": ["--ray", "--workers", "1"], "ray2": ["--ray", "--workers", "2"]}[name]
    with tempfile.TemporaryDirectory(prefix="facelens-bench-") as home:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "facelens.agent.cli", "session", "ingest", *map(str, files), *extra, "--json"],
            env={**os.environ, "FACELENS_HOME": home},
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    per_file = [f["seconds"] for f in out["files"]]
    return {
        "run": name,
        "workers": out["workers"],
        "recording_s": out["recording_seconds"],
        "command_wall_s": round(wall, 1),
        "ingest_wall_s": out["wall_seconds"],
        "rate": round(out["recording_seconds"] / wall, 3),
        "per_file_s": per_file,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--runs", default="sequential,ray1,ray2")
    ap.add_argument("--folder", default=None, help="where the recordings are made (kept for re-runs)")
    args = ap.parse_args()
    folder = Path(args.folder or tempfile.mkdtemp(prefix="facelens-batch-media-"))
    folder.mkdir(parents=True, exist_ok=True)
    files = make(folder, args.files, args.seconds)
    print(
        f"{len(files)} x {args.seconds:.0f} s recordings in {folder}; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    for name in args.runs.split(","):
        r = run(name.strip(), files)
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
