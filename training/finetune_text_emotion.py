"""Fine-tune all-MiniLM-L6-v2 for the words' emotion on MELD with low-rank adapters (LoRA); export to numpy.

    nice -n 5 python training/finetune_text_emotion.py --data ../shared/data/meld --run /work/runs/meld-lora \
        [--rank 8] [--epochs 4] [--context] [--export]

Why adapters: the frozen, mean-pooled sentence embedding + a linear head stops at weighted F1 ~0.56 on
MELD dev (bench/text_emotion_context.md). Fine-tuning the encoder lets it learn what dialogue emotion
needs; low-rank adapters (W' = W + B·A, rank r, on every linear layer of the 6 blocks) keep what must
be shipped to a few hundred kB, merged into the packaged MiniLM weights at load time by the numpy
runtime (tools/sentence_embed.py), so torch stays a training-only dependency (the `train` extra).

Protocol (as training/train_text_emotion.py): fit on MELD train minus one tenth of its dialogues
(dialogue id % 10 == 0, never fitted on or chosen on, reported as the untouched split); the epoch is
chosen on MELD dev by weighted F1 *after* the run time's lexicon blend (tools/text_emotion.py), so the
figure chosen on is the figure shipped. The head sees the pooled, L2-normalised embedding × 8 and the
16 surface cues × 2 (tools/text_emotion_model.surface), like the linear head it replaces.

With ``--context`` the utterance before (same dialogue) goes in as the first segment,
``[CLS] previous [SEP] utterance [SEP]``, and only the utterance's own tokens are pooled.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tools" / "data" / "models"
EMB_SCALE, CUE_SCALE = 8.0, 2.0
TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


def load(data: Path, split: str) -> list[dict[str, str]]:
    with (data / f"{split}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def previous_texts(rows: list[dict[str, str]]) -> list[str | None]:
    idx = {(r["dialogue"], int(r["utterance"])): r["text"] for r in rows}
    return [idx.get((r["dialogue"], int(r["utterance"]) - 1)) for r in rows]


def build(folder: Path, rank: int, alpha: float, dropout: float, first: int):  # type: ignore[no-untyped-def]
    import torch
    from torch import nn
    from transformers import BertModel

    class LoRA(nn.Module):
        def __init__(self, base: nn.Linear) -> None:
            super().__init__()
            self.base = base
            self.a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))
            self.b = nn.Parameter(torch.zeros(base.out_features, rank))
            self.scale = alpha / rank
            self.drop = nn.Dropout(dropout)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.base(x) + (self.drop(x) @ self.a.T @ self.b.T) * self.scale

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False)
            for p in self.bert.parameters():
                p.requires_grad = False
            self.first = first
            self.adapted: dict[str, LoRA] = {}
            for i, layer in enumerate(self.bert.encoder.layer):
                if i < first:
                    continue
                for t in TARGETS:
                    parent = layer
                    *path, leaf = t.split(".")
                    for part in path:
                        parent = getattr(parent, part)
                    lora = LoRA(getattr(parent, leaf))
                    setattr(parent, leaf, lora)
                    self.adapted[f"encoder.layer.{i}.{t}"] = lora
            self.head = nn.Linear(384 + 16, 7)

        def lower(self, ids, mask, types):  # type: ignore[no-untyped-def]
            """The frozen part: embeddings and the layers below ``first`` (computed once per utterance)."""
            h = self.bert.embeddings(input_ids=ids, token_type_ids=types)
            ext = (1.0 - mask)[:, None, None, :] * -1e9
            for layer in self.bert.encoder.layer[: self.first]:
                h = layer(h, attention_mask=ext)
            return h

        def forward(self, h, mask, pool, cues):  # type: ignore[no-untyped-def]
            ext = (1.0 - mask)[:, None, None, :] * -1e9
            for layer in self.bert.encoder.layer[self.first :]:
                h = layer(h, attention_mask=ext)
            pooled = (h * pool[..., None]).sum(1) / pool.sum(1, keepdim=True).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1) * EMB_SCALE
            return self.head(torch.cat([pooled, cues * CUE_SCALE], dim=-1))

    return Net()


def encode(tok, texts: list[str], prevs: list[str | None] | None, max_len: int):  # type: ignore[no-untyped-def]
    """Token ids, attention mask, token types and pooling mask (the utterance's own tokens) per row."""
    out = []
    for i, t in enumerate(texts):
        cur = tok.encode(t if t.strip() else ".").ids  # [CLS] ... [SEP]
        cur = cur[: max_len // 2 if prevs else max_len]
        if prevs and prevs[i]:
            prev = tok.encode(prevs[i]).ids[: max_len - len(cur)]  # [CLS] prev [SEP]
            ids = prev + cur[1:]
            types = [0] * len(prev) + [1] * (len(cur) - 1)
            pool = [0] * len(prev) + [1] * (len(cur) - 1)
            # the runtime pools [CLS] too for a lone utterance; with context, pool the utterance and its [SEP]
        else:
            ids, types, pool = cur, [0] * len(cur), [1] * len(cur)
        out.append((ids, types, pool))
    return out


def batches(enc, order, size):  # type: ignore[no-untyped-def]
    import torch

    for s in range(0, len(order), size):
        idx = order[s : s + size]
        L = max(len(enc[i][0]) for i in idx)
        ids = torch.zeros(len(idx), L, dtype=torch.long)
        types = torch.zeros(len(idx), L, dtype=torch.long)
        mask = torch.zeros(len(idx), L)
        pool = torch.zeros(len(idx), L)
        for r, i in enumerate(idx):
            a, t, p = enc[i]
            ids[r, : len(a)] = torch.tensor(a)
            types[r, : len(a)] = torch.tensor(t)
            mask[r, : len(a)] = 1
            pool[r, : len(a)] = torch.tensor(p, dtype=torch.float32)
        yield idx, ids, mask, types, pool


def lower_states(net, enc, size=64) -> list:  # type: ignore[no-untyped-def]
    """Each utterance's hidden states below the adapted layers (frozen, so computed once, no dropout)."""
    import torch

    net.eval()
    out: list = [None] * len(enc)
    with torch.no_grad():
        for idx, ids, mask, types, pool in batches(enc, sorted(range(len(enc)), key=lambda i: len(enc[i][0])), size):
            h = net.lower(ids, mask, types)
            for r, i in enumerate(idx):
                out[i] = h[r, : len(enc[i][0])].clone()
    net.train()
    return out


def state_batches(states, enc, order, size):  # type: ignore[no-untyped-def]
    import torch

    for idx, ids, mask, types, pool in batches(enc, order, size):
        h = torch.zeros(len(idx), ids.shape[1], states[idx[0]].shape[-1])
        for r, i in enumerate(idx):
            h[r, : states[i].shape[0]] = states[i]
        yield idx, h, mask, pool


def predict(net, states, enc, cues, size=64) -> np.ndarray:  # type: ignore[no-untyped-def]
    import torch

    net.eval()
    order = sorted(range(len(enc)), key=lambda i: len(enc[i][0]))
    out = np.zeros((len(enc), 7), np.float32)
    with torch.no_grad():
        for idx, h, mask, pool in state_batches(states, enc, order, size):
            z = net(h, mask, pool, cues[idx])
            out[idx] = torch.softmax(z, -1).numpy()
    net.train()
    return out


def blend(probs: np.ndarray, texts: list[str]) -> np.ndarray:
    """The run time's lexicon blend (tools/text_emotion.py) applied to the head's probabilities."""
    from facelens.tools import text_emotion

    return np.array([text_emotion.blend_learnt(p, t) for p, t in zip(probs, texts)], np.float32)


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    pred = p.argmax(1)
    return {
        "weighted_f1": round(float(f1_score(y, pred, average="weighted")), 4),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
    }


def export(net, path: Path, meta: dict) -> None:  # type: ignore[no-untyped-def]
    from facelens.tools.schema import EMOTIONS

    arrays = {}
    for name, lora in net.adapted.items():
        arrays[f"lora_a:{name}"] = lora.a.detach().numpy().astype(np.float16)
        arrays[f"lora_b:{name}"] = (lora.b.detach().numpy() * lora.scale).astype(np.float16)
    np.savez_compressed(
        path,
        weights=net.head.weight.detach().numpy().astype(np.float32),
        bias=net.head.bias.detach().numpy().astype(np.float32),
        context_weight=np.float32(0.0),
        n_surface=np.int32(16),
        surface_scale=np.float32(CUE_SCALE),
        emb_scale=np.float32(EMB_SCALE),
        context_pairs=np.int32(bool(meta["context"])),
        max_tokens=np.int32(meta["max_len"]),
        labels=np.array(EMOTIONS),
        name=np.array(meta["name"]),
        **arrays,
    )


def check_split_forward(net, enc) -> None:  # type: ignore[no-untyped-def]
    """The split forward (frozen lower layers, then the rest) equals the whole model's, before training."""
    import torch

    net.eval()
    with torch.no_grad():
        for idx, ids, mask, types, pool in batches(enc, list(range(len(enc))), len(enc)):
            whole = net.bert(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
            h = net.lower(ids, mask, types)
            ext = (1.0 - mask)[:, None, None, :] * -1e9
            for layer in net.bert.encoder.layer[net.first :]:
                h = layer(h, attention_mask=ext)
            err = float(((whole - h).abs() * mask[..., None]).max())
            assert err < 1e-3, f"split forward differs from the model's by {err}"
    net.train()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "meld")
    ap.add_argument("--run", type=Path, required=True, help="folder for checkpoints, predictions and the log")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--class-weight-power", type=float, default=0.5)
    ap.add_argument("--context", action="store_true")
    ap.add_argument(
        "--first-layer", type=int, default=3, help="adapt layers from this one up (0-5); lower ones stay frozen"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="train on the first N rows only (a timing check)")
    args = ap.parse_args()
    import torch
    from tokenizers import Tokenizer

    from facelens.tools import sentence_embed
    from facelens.tools.schema import EMOTIONS
    from facelens.tools.text_emotion import classify_lexicon
    from facelens.tools.text_emotion_model import surface

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    folder = sentence_embed.model_dir()
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    train, dev = load(args.data, "train"), load(args.data, "dev")
    held = np.array([int(r["dialogue"]) % 10 == 0 for r in train])
    fit_rows = [r for r, h in zip(train, held) if not h]
    held_rows = [r for r, h in zip(train, held) if h]
    sets = {}
    for name, rows in (("fit", fit_rows), ("dev", dev), ("held", held_rows)):
        texts = [r["text"] for r in rows]
        prevs = previous_texts(rows) if args.context else None
        cues = torch.tensor([surface(t, classify_lexicon(t).scores) for t in texts], dtype=torch.float32)
        y = np.array([EMOTIONS.index(r["label"]) for r in rows])
        sets[name] = (texts, encode(tok, texts, prevs, args.max_len), cues, y)
    texts, enc, cues, y = sets["fit"]
    if args.limit:
        enc, cues, y = enc[: args.limit], cues[: args.limit], y[: args.limit]
    counts = np.bincount(y, minlength=7)
    cw = (counts.sum() / np.maximum(counts, 1)) ** args.class_weight_power
    cw = cw / (cw * counts).sum() * counts.sum()
    net = build(folder, args.rank, args.alpha, 0.1, args.first_layer)
    check_split_forward(net, enc[:8])
    t = time.time()
    states = {name: lower_states(net, sets[name][1]) for name in ("dev", "held")}
    states["fit"] = lower_states(net, enc)
    print(f"frozen layers 0-{args.first_layer - 1} computed in {time.time() - t:.0f} s", file=sys.stderr, flush=True)
    params = [p for p in net.parameters() if p.requires_grad]
    print(f"trainable parameters: {sum(p.numel() for p in params):,}", file=sys.stderr)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(enc) / args.batch)
    warm = max(1, steps // 16)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm))
    )
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(cw, dtype=torch.float32), label_smoothing=0.05)
    yt = torch.tensor(y)
    args.run.mkdir(parents=True, exist_ok=True)
    log = (args.run / "log.jsonl").open("a")
    step, t0 = 0, time.time()
    for epoch in range(1, args.epochs + 1):
        # length-bucketed shuffled batches: similar lengths together, batches in random order
        order = sorted(range(len(enc)), key=lambda i: len(enc[i][0]) + random.random() * 6)
        chunks = [order[s : s + args.batch] for s in range(0, len(order), args.batch)]
        random.shuffle(chunks)
        for idx, h, mask, pool in state_batches(states["fit"], enc, [i for c in chunks for i in c], args.batch):
            loss = loss_fn(net(h, mask, pool, cues[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(
                    f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} {time.time() - t0:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
        row = {"epoch": epoch, "seconds": round(time.time() - t0), **vars(args)}
        row = {k: str(v) if isinstance(v, Path) else v for k, v in row.items()}
        for name in ("dev", "held"):
            s_texts, s_enc, s_cues, s_y = sets[name]
            p = predict(net, states[name], s_enc, s_cues)
            np.save(args.run / f"{name}_e{epoch}.npy", p)
            row[name + "_head"] = scores(s_y, p)
            row[name] = scores(s_y, blend(p, s_texts))
        print(json.dumps(row), file=sys.stderr, flush=True)
        log.write(json.dumps(row) + "\n")
        log.flush()
        name = f"minilm-lora{args.rank}-l{args.first_layer}-meld{'-ctx' if args.context else ''}-e{epoch}"
        export(
            net,
            args.run / f"text_emotion_e{epoch}.npz",
            {"name": name, "context": args.context, "max_len": args.max_len},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
