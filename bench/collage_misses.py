"""Why collages miss their exact face count: classify every miss of the default detector by kind.

Tuning data only: collages drawn with EVEN seeds from the even-numbered (tuning-half) people of
``faces/portraits`` (:func:`facelens.eval.domains.collage_set` with ``half="tune"``), half colour, half
greyscale, exactly like the suite's held-out collages (odd seeds, odd people), which this never reads.

Per collage, each detection goes to the tile holding its box centre; then

- ``missed``: a tile with no detection;
- ``double``: a tile with two or more detections;
- ``merged``: a detection centred between tiles whose box covers a good part (>= 25%) of two or more
  (the tiles it covers do not count as missed as well);
- ``background``: any other detection centred off every tile (on the background or a seam).

It records what the ``fused`` detector's two stages gave (the large-face stage and the tiled passes,
captured at :func:`facelens.tools.large_faces.combine`), so a miss can be traced to a stage::

    nice -n 10 python bench/collage_misses.py --n 200 --json /tmp/collage_misses.json [--save-misses DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def classify(tiles, boxes) -> dict[str, int]:
    """Counts of each kind of miss for one collage (empty when the count and placement are right)."""
    kinds: Counter = Counter()
    per_tile = [0] * len(tiles)
    merged_over: set[int] = set()
    for bx, by, bw, bh in boxes:
        cx, cy = bx + bw / 2, by + bh / 2
        hit = [k for k, (tx, ty, tw, th) in enumerate(tiles) if tx <= cx < tx + tw and ty <= cy < ty + th]
        if hit:
            per_tile[hit[0]] += 1
            continue
        cover = []
        for tx, ty, tw, th in tiles:
            ix = max(0, min(bx + bw, tx + tw) - max(bx, tx))
            iy = max(0, min(by + bh, ty + th) - max(by, ty))
            cover.append(ix * iy / float(tw * th))
        over = [k for k, c in enumerate(cover) if c >= 0.25]
        if len(over) >= 2:  # one box over two tiles, centred on the seam between them
            kinds["merged"] += 1
            merged_over.update(over)
        else:
            kinds["background"] += 1
    kinds["missed"] += sum(n == 0 and k not in merged_over for k, n in enumerate(per_tile))
    kinds["double"] += sum(n - 1 for n in per_tile if n > 1)
    return {k: v for k, v in kinds.items() if v}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n", type=int, default=200, help="tuning collages (half colour, half grey)")
    ap.add_argument("--json", type=Path, help="write every collage's detections and kinds here")
    ap.add_argument("--save-misses", type=Path, help="write a PNG of each wrong collage, boxes drawn, here")
    args = ap.parse_args(argv)
    if not (args.data / "faces/portraits/identities.csv").exists():
        print(f"needs the research data at {args.data}/faces/portraits (absent on a fresh clone)", file=sys.stderr)
        return 2

    from facelens.eval.domains import collage_set
    from facelens.tools import faces, large_faces

    captured: dict = {}
    combine = large_faces.combine

    def spy(large, small, *a, **kw):
        captured["large"], captured["small"] = list(large), list(small)
        return combine(large, small, *a, **kw)

    large_faces.combine = spy
    rows, totals, wrong = [], Counter(), {False: 0, True: 0}
    seen = {False: 0, True: 0}
    t0 = time.perf_counter()
    for k, c in enumerate(collage_set(args.data, args.n, half="tune")):
        dets = faces.detect_faces(c.rgb)
        kinds = classify(c.tiles, [d.box for d in dets])
        ok = len(dets) == len(c.tiles)
        seen[c.grey] += 1
        wrong[c.grey] += not ok
        totals.update(kinds)
        rows.append(
            {
                "index": k,
                "seed": 2 * k,
                "grey": c.grey,
                "layout": c.layout,
                "size": list(c.rgb.shape[:2]),
                "tiles": [list(t) for t in c.tiles],
                "ok": ok,
                "kinds": kinds,
                "final": [[*d.box, round(d.score, 3)] for d in dets],
                "large": [[*d.box, round(d.score, 3)] for d in captured.get("large", [])],
                "small": [[*d.box, round(d.score, 3)] for d in captured.get("small", [])],
            }
        )
        if not ok and args.save_misses:
            _save(c.rgb, c.tiles, dets, args.save_misses / f"{k:03d}_{'grey' if c.grey else 'colour'}.png")
    n = len(rows)
    print(f"{n} tuning collages in {time.perf_counter() - t0:.0f} s")
    print(
        f"exact count: {1 - sum(wrong.values()) / n:.3f} (colour {1 - wrong[False] / max(seen[False], 1):.3f}, "
        f"grey {1 - wrong[True] / max(seen[True], 1):.3f})"
    )
    print("misses by kind (faces/boxes):", dict(totals))
    for r in rows:
        if not r["ok"]:
            print(
                f"  #{r['index']:3d} {'grey ' if r['grey'] else 'colour'} {r['layout']:6s} {len(r['tiles'])} tiles "
                f"side {r['tiles'][0][2]:3d}: {len(r['final'])} found {r['kinds']}"
            )
    if args.json:
        args.json.write_text(json.dumps(rows))
    return 0


def _save(rgb: np.ndarray, tiles, dets, path: Path) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    for x, y, w, h in tiles:
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (255, 200, 0), 1)
    for d in dets:
        x, y, w, h = d.box
        cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (0, 0, 255), 2)
        cv2.putText(img, f"{d.score:.2f}", (x, max(10, y - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 255), 1)
    cv2.imwrite(str(path), img)


if __name__ == "__main__":
    sys.exit(main())
