"""Pack fine-tuned words'-emotion members into the shipped tools/data/models/text_emotion.npz.

    python training/pack_text_emotion.py /work/runs/l3r8/text_emotion_e5.npz /work/runs/l1r8/text_emotion_e5.npz \
        --name minilm-lora-meld-x2 [--out tools/data/models/text_emotion.npz]

Each member is one file written by training/finetune_text_emotion.py (adapters + head). At run time
(tools/text_emotion_model.py) every member runs its own adapted MiniLM and their probabilities are
averaged. One member is packed as it is (no prefix).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("members", nargs="+", type=Path)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "tools" / "data" / "models" / "text_emotion.npz")
    args = ap.parse_args()
    arrays: dict[str, np.ndarray] = {}
    for i, path in enumerate(args.members):
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                arrays[f"m{i}/{key}" if len(args.members) > 1 else key] = data[key]
    if len(args.members) > 1:
        arrays["members"] = np.int32(len(args.members))
    arrays["name"] = np.array(args.name)
    np.savez_compressed(args.out, **arrays)
    print(f"{args.out}: {len(args.members)} member(s), {args.out.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
