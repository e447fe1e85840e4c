"""Benchmark every face detector on the shared WIDER FACE sample; writes bench/detection_results.json.

    nice -n 10 python bench/detection_bench.py [--data ../shared/data/wider] [--cnn-limit 30]

Each row is exactly what ``facelens eval detection DIR --json --detector NAME`` reports (same code).
The slow dlib CNN runs on ``--cnn-limit`` evenly spaced photos only. The markdown table it prints
goes into bench/detection.md.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from facelens.eval.detection import evaluate
from facelens.tools import faces

ROOT = Path(__file__).resolve().parents[1]
DETECTORS = ["hog", "cnn", "blazeface", "blazeface-short", "blazeface-tiled", "fused"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "wider"))
    ap.add_argument("--cnn-limit", type=int, default=30)
    ap.add_argument("--detectors", nargs="*", default=DETECTORS)
    ap.add_argument("--out", default=str(ROOT / "bench" / "detection_results.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    for name in args.detectors:
        limit = args.cnn_limit if name == "cnn" else None
        rep = evaluate(args.data, name, limit=limit).to_dict()
        results[name] = rep
        out.write_text(json.dumps(results, indent=2) + "\n")
        print(json.dumps({name: rep}), flush=True)
    print(
        "\n| detector | photos | easy recall | medium recall | hard recall | precision | s / photo (wall) | s / photo (CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        rc = r["recall"]
        default = " (default)" if name == faces.DEFAULT_DETECTOR else ""
        print(
            f"| {name}{default} | {r['n_images']} | {rc['easy']:.3f} | {rc['medium']:.3f} | {rc['hard']:.3f} | "
            f"{r['precision']:.3f} | {r['seconds_per_image']:.3f} | {r['cpu_seconds_per_image']:.3f} |"
        )


if __name__ == "__main__":
    main()
