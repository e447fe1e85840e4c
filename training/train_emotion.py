"""Train facelens's FER-2013 emotion CNN on the CPU, checkpointing every epoch.

Reproducible command (from the repository root)::

    nice -n 10 python training/train_emotion.py --data ../shared/data/fer2013 \
        --out /work/runs/emotion --epochs 8 --budget-minutes 80

The learning-rate schedule (warm-up, then cosine) runs over whichever ends first: the epochs or the
wall-clock budget, so a run on a busy machine still ends annealed (the shipped model's card says how
many epochs it got). Without ``--budget-minutes`` the run is purely epoch-based and deterministic in
its schedule. Re-running the same command with ``--resume`` continues from ``OUT/last.pt``. The best epoch by
validation accuracy (with test-time flip) is kept in ``OUT/best.pt``; ``training/export_emotion.py``
turns it into the shipped ONNX file, fits the temperature and writes the model card.

Images are decoded once into ``OUT/cache_<split>.npz`` (uint8, N x 48 x 48) outside the repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

log = logging.getLogger("train_emotion")

# Order must match facelens.tools.schema.EMOTIONS.
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
SIZE = 48  # FER-2013 image size
CROP = 44  # random crop during training; centre crop (or full 48 padded) at test
MEAN, STD = 0.5, 0.25  # fixed pixel normalisation: (x / 255 - MEAN) / STD


def load_split(root: Path, split: str, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode one split into (uint8 N x 48 x 48, int64 labels), cached as .npz."""
    cache = cache_dir / f"cache_{split}.npz"
    if cache.exists():
        z = np.load(cache)
        return z["x"], z["y"]
    import cv2

    xs, ys = [], []
    for label, name in enumerate(EMOTIONS):
        for p in sorted((root / split / name).iterdir()):
            img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
            if img is None:
                log.warning("unreadable %s", p)
                continue
            if img.shape != (SIZE, SIZE):
                img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
            xs.append(img)
            ys.append(label)
    x, y = np.stack(xs).astype(np.uint8), np.asarray(ys, dtype=np.int64)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, y=y)
    return x, y


def conv_bn(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class EmotionNet(nn.Module):
    """VGG-style net: four stages of 3x3 convs (widths w, 2w, 4w, 8w), global average pool, dropout, linear."""

    def __init__(
        self,
        width: int = 16,
        depth: tuple[int, ...] = (2, 2, 2, 3),
        n_classes: int = len(EMOTIONS),
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for stage, n in enumerate(depth):
            cout = width * 2**stage
            for _ in range(n):
                layers.append(conv_bn(cin, cout))
                cin = cout
            if stage < len(depth) - 1:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def augment(xb: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Batched augmentation on float N x 1 x 48 x 48: affine (rotate/scale/shift), flip, crop, erase."""
    n = xb.shape[0]
    ang = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(12)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * 0.12
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx = (torch.rand(n, generator=gen) * 2 - 1) * 0.10
    ty = (torch.rand(n, generator=gen) * 2 - 1) * 0.10
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, [n, 1, CROP, CROP], align_corners=False) * (CROP / SIZE)
    out = F.grid_sample(xb, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # random erasing: one rectangle of 2-20% area in half the images, filled with noise
    er = torch.rand(n, generator=gen) < 0.5
    for i in torch.nonzero(er).flatten().tolist():
        area = float(torch.empty(1).uniform_(0.02, 0.2, generator=gen)) * CROP * CROP
        ratio = math.exp(float(torch.empty(1).uniform_(math.log(0.3), math.log(3.3), generator=gen)))
        h = min(CROP, int(round(math.sqrt(area * ratio))))
        w = min(CROP, int(round(math.sqrt(area / ratio))))
        y0 = int(torch.randint(0, CROP - h + 1, (1,), generator=gen))
        x0 = int(torch.randint(0, CROP - w + 1, (1,), generator=gen))
        out[i, :, y0 : y0 + h, x0 : x0 + w] = torch.randn(1, h, w, generator=gen)
    return out


def to_input(x_u8: np.ndarray) -> torch.Tensor:
    """uint8 N x 48 x 48 -> normalised float N x 1 x 48 x 48 (exactly what tools/emotion.py does)."""
    return (torch.from_numpy(x_u8).float().unsqueeze(1) / 255.0 - MEAN) / STD


def test_view(xb: torch.Tensor) -> torch.Tensor:
    """The deterministic test view: centre CROP x CROP of the 48 x 48 input (matches training scale)."""
    o = (SIZE - CROP) // 2
    return xb[:, :, o : o + CROP, o : o + CROP]


@torch.no_grad()
def predict_logits(model: nn.Module, x_u8: np.ndarray, batch: int = 512) -> np.ndarray:
    """Logits averaged over the image and its mirror (test-time flip)."""
    model.eval()
    outs = []
    for i in range(0, len(x_u8), batch):
        xb = test_view(to_input(x_u8[i : i + batch]))
        outs.append(((model(xb) + model(torch.flip(xb, dims=[3]))) / 2).numpy())
    return np.concatenate(outs)


def lr_at(progress: float, peak: float) -> float:
    """One-cycle learning rate at a fraction of training: warm up from peak/10 over the first 20%,
    then cosine down to peak/1000."""
    if progress < 0.2:
        return peak / 10 + (peak - peak / 10) * (1 - math.cos(math.pi * progress / 0.2)) / 2
    q = (progress - 0.2) / 0.8
    return peak / 1000 + (peak - peak / 1000) * (1 + math.cos(math.pi * min(q, 1.0))) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("../shared/data/fer2013"))
    ap.add_argument("--out", type=Path, default=Path("/work/runs/emotion"))
    ap.add_argument("--epochs", type=int, default=11)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--depth", default="2,2,2,3", help="convs per stage")
    ap.add_argument("--lr", type=float, default=0.08)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--smoothing", type=float, default=0.1)
    ap.add_argument(
        "--class-weight-power",
        type=float,
        default=0.5,
        help="class weight = (n_max / n_class) ** power; 0 = unweighted",
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit-batches", type=int, default=0, help="debug: stop each epoch after N batches")
    ap.add_argument(
        "--budget-minutes",
        type=float,
        default=0,
        help="wall-clock budget: the LR schedule is compressed so training ends annealed in time (0 = none)",
    )
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    xtr, ytr = load_split(args.data, "train", args.out)
    xva, yva = load_split(args.data, "val", args.out)
    log.info("train %s val %s", xtr.shape, xva.shape)
    counts = np.bincount(ytr, minlength=len(EMOTIONS))
    cw = (counts.max() / counts) ** args.class_weight_power
    cw = torch.tensor(cw / (cw * counts).sum() * counts.sum(), dtype=torch.float32)
    log.info("class weights %s", np.round(cw.numpy(), 2).tolist())

    depth = tuple(int(d) for d in args.depth.split(","))
    model = EmotionNet(args.width, depth).to(memory_format=torch.channels_last)
    log.info("params %.2fM", sum(p.numel() for p in model.parameters()) / 1e6)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=args.wd)
    steps = math.ceil(len(xtr) / args.batch)
    total_steps = steps * args.epochs
    loss_fn = nn.CrossEntropyLoss(weight=cw, label_smoothing=args.smoothing)
    start, best, history, done_steps, spent = 0, 0.0, [], 0, 0.0
    last = args.out / "last.pt"
    if args.resume and last.exists():
        ck = torch.load(last, weights_only=False)
        model.load_state_dict(ck["model"]), opt.load_state_dict(ck["opt"])
        start, best, history = ck["epoch"] + 1, ck["best"], ck["history"]
        done_steps, spent = ck["done_steps"], ck["spent"]
        torch.set_rng_state(ck["rng"])
        log.info("resumed at epoch %d (best %.4f)", start, best)
    gen = torch.Generator().manual_seed(args.seed + start)
    xtr_t = to_input(xtr)
    ytr_t = torch.from_numpy(ytr)

    budget = args.budget_minutes * 60 if args.budget_minutes else float("inf")
    t_start = time.time() - spent  # wall clock already spent in earlier sessions counts against the budget
    progress = 0.0
    for epoch in range(start, args.epochs):
        if progress >= 1.0:
            break
        model.train()
        t0, tot, correct, seen = time.time(), 0.0, 0, 0
        perm = torch.randperm(len(xtr), generator=gen)
        for b in range(steps):
            if args.limit_batches and b >= args.limit_batches:
                break
            # the schedule follows whichever runs out first: the epochs or the wall-clock budget
            progress = max(done_steps / total_steps, (time.time() - t_start) / budget)
            if progress >= 1.0:
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(progress, args.lr)
            idx = perm[b * args.batch : (b + 1) * args.batch]
            xb = augment(xtr_t[idx], gen).contiguous(memory_format=torch.channels_last)
            yb = ytr_t[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done_steps += 1
            tot += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(idx)
            if b % 50 == 0:
                log.info("epoch %d batch %d/%d loss %.3f (%.1f s)", epoch, b, steps, tot / seen, time.time() - t0)
        val_acc = float((predict_logits(model, xva).argmax(1) == yva).mean())
        rec = {
            "epoch": epoch,
            "train_loss": tot / max(seen, 1),
            "train_acc": correct / max(seen, 1),
            "val_acc": val_acc,
            "seconds": time.time() - t0,
            "lr": opt.param_groups[0]["lr"],
            "progress": round(progress, 4),
            "batches": seen // args.batch,
        }
        history.append(rec)
        log.info("EPOCH %s", json.dumps(rec))
        cfg = {
            "width": args.width,
            "depth": list(depth),
            "crop": CROP,
            "size": SIZE,
            "mean": MEAN,
            "std": STD,
            "labels": list(EMOTIONS),
            "args": {k: str(v) for k, v in vars(args).items()},
        }
        if val_acc > best:
            best = val_acc
            torch.save(
                {"model": model.state_dict(), "epoch": epoch, "val_acc": val_acc, "config": cfg}, args.out / "best.pt"
            )
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "epoch": epoch,
                "done_steps": done_steps,
                "spent": time.time() - t_start,
                "best": best,
                "history": history,
                "rng": torch.get_rng_state(),
                "config": cfg,
            },
            last,
        )
        (args.out / "history.json").write_text(json.dumps(history, indent=1))
    log.info("done: best val acc (flip TTA) %.4f", best)


if __name__ == "__main__":
    main()
