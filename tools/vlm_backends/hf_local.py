"""A local Hugging Face VLM through transformers: Qwen2-VL/Qwen2.5-VL, SmolVLM/Idefics3, LLaVA, PaliGemma.

Loaded once with ``AutoProcessor`` + ``AutoModelForImageTextToText`` from a folder (or a hub id
already in the local cache: nothing is downloaded). On CUDA it runs in bf16 (fp16 where bf16 is
unsupported) after checking that the weights fit in free GPU memory; on the CPU in float32.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from facelens.tools.errors import BackendError, ModelError, missing_dependency
from facelens.tools.vlm_backends.base import Generation, Turn

log = logging.getLogger(__name__)
_lock = threading.Lock()

#: extra GPU memory beyond the weights: activations, KV cache and the CUDA context
GPU_HEADROOM_BYTES = 1.5e9
_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}
#: model types whose processors take a plain prompt and one image (no chat template)
_PLAIN_PROMPT = ("paligemma",)


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise missing_dependency("torch", "local", why="a local VLM") from exc
    return torch


def resolve_weights(model: str) -> Path:
    """The local folder of a model: a path, or a hub id already in the Hugging Face cache."""
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} has no config.json; it is not a Hugging Face model folder.")
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model, local_files_only=True))
    except Exception as exc:  # not cached, or not a valid id: both mean "no weights here"
        raise ModelError(
            f"Local VLM weights not found: '{model}' is not a folder and not in the Hugging Face cache.",
            hint="Download them first (e.g. `hf download HuggingFaceTB/SmolVLM-256M-Instruct --local-dir DIR`) "
            "and set FACELENS_LOCAL_VLM=DIR.",
        ) from exc


def weight_bytes(folder: Path, dtype_name: str) -> float:
    """Estimated memory of the weights in ``dtype_name``, from the files on disk and their stored dtype."""
    files = list(folder.glob("*.safetensors")) or list(folder.glob("*.bin"))
    on_disk = float(sum(f.stat().st_size for f in files))
    stored = "float32"
    try:
        cfg = json.loads((folder / "config.json").read_text())
        stored = str(
            cfg.get("dtype") or cfg.get("torch_dtype") or (cfg.get("text_config") or {}).get("dtype") or "float32"
        )
    except (OSError, ValueError):
        pass
    return on_disk * _BYTES.get(dtype_name, 2) / _BYTES.get(stored, 4)


def pick_device(device: str = "auto") -> tuple[str, str]:
    """(device, dtype name): CUDA with bf16/fp16 when present, else CPU float32."""
    torch = _torch()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError(
                "FACELENS_LOCAL_VLM_DEVICE asks for CUDA but no CUDA GPU is visible.",
                hint="Use device 'auto' or 'cpu'.",
            )
        if device == "cuda":
            device = f"cuda:{torch.cuda.current_device()}"
        return device, ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    return "cpu", "float32"


def check_gpu_memory(folder: Path, device: str, dtype_name: str) -> dict[str, float]:
    """Refuse, with a clear message, a model that will not fit in the free memory of the GPU."""
    torch = _torch()
    index = int(device.split(":")[1]) if ":" in device else 0
    free, total = torch.cuda.mem_get_info(index)
    need = weight_bytes(folder, dtype_name) + GPU_HEADROOM_BYTES
    if need > free:
        raise ModelError(
            f"The local VLM {folder.name} needs about {need / 1e9:.1f} GB of GPU memory in {dtype_name}; "
            f"GPU {index} has {free / 1e9:.1f} GB free of {total / 1e9:.1f} GB.",
            hint="Choose a smaller model (e.g. SmolVLM-256M-Instruct), free GPU memory, or set FACELENS_LOCAL_VLM_DEVICE=cpu.",
        )
    return {
        "gpu_free_gb": round(free / 1e9, 2),
        "gpu_total_gb": round(total / 1e9, 2),
        "weights_gb": round((need - GPU_HEADROOM_BYTES) / 1e9, 3),
    }


@lru_cache(maxsize=2)
def load(model: str, device: str = "auto") -> tuple[object, object, dict[str, float]]:
    """Load (processor, model, stats) once per (model, device)."""
    torch = _torch()
    try:
        from transformers import AutoModelForImageTextToText, AutoProcessor
    except ImportError as exc:
        raise missing_dependency("transformers", "local", why="a local VLM") from exc
    folder = resolve_weights(model)
    device, dtype_name = pick_device(device)
    stats: dict[str, float] = {}
    if device.startswith("cuda"):
        stats.update(check_gpu_memory(folder, device, dtype_name))
    t0 = time.perf_counter()
    with _lock:
        log.info("loading local VLM %s on %s (%s)", folder, device, dtype_name)
        try:
            processor = AutoProcessor.from_pretrained(folder)
        except Exception as exc:  # transformers raises many kinds here (missing torchvision shows as AttributeError)
            import importlib.util

            hint = None
            if importlib.util.find_spec("torchvision") is None:
                hint = "Its processor may need torchvision (Qwen2-VL and Qwen2.5-VL do): pip install torchvision"
            raise ModelError(
                f"Cannot load the processor of the local VLM {folder}: {type(exc).__name__}: {exc}", hint=hint
            ) from exc
        try:
            import transformers
            from packaging.version import Version

            # transformers >= 4.56 calls it dtype; older releases only know torch_dtype
            key = "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
            kwargs: dict = {key: getattr(torch, dtype_name)}
            if device.startswith("cuda"):
                kwargs["device_map"] = {"": device}  # accelerate places every module on that GPU
            vlm = AutoModelForImageTextToText.from_pretrained(folder, **kwargs)
        except torch.cuda.OutOfMemoryError as exc:
            raise ModelError(
                f"Out of GPU memory loading {folder.name}.",
                hint="Choose a smaller model or set FACELENS_LOCAL_VLM_DEVICE=cpu.",
            ) from exc
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"Cannot load the local VLM from {folder}: {exc}") from exc
    vlm.eval()
    stats["load_s"] = round(time.perf_counter() - t0, 2)
    stats["params_m"] = round(sum(p.numel() for p in vlm.parameters()) / 1e6, 3)
    if device.startswith("cuda"):
        stats["gpu_allocated_gb"] = round(torch.cuda.memory_allocated(device) / 1e9, 3)
    return processor, vlm, stats


def chat_messages(turns: Sequence[Turn]) -> tuple[list[dict], list]:
    """Turns as transformers chat messages (image placeholders in place) and the images in order.

    The system text is merged into the first user turn: several VLM chat templates have no system role.
    """
    from PIL import Image

    system = "\n".join(t.text for t in turns if t.role == "system")
    messages: list[dict] = []
    images: list = []
    for t in turns:
        if t.role == "system":
            continue
        content: list[dict] = []
        if system and t.role == "user" and not messages:
            content.append({"type": "text", "text": system + "\n\n"})
        for p in t.parts:
            if isinstance(p, str):
                content.append({"type": "text", "text": p})
            else:
                content.append({"type": "image"})
                images.append(Image.fromarray(p))
        messages.append({"role": t.role, "content": content})
    return messages, images


class LocalVLM:
    """A Hugging Face image-text-to-text model on this machine."""

    local = True

    def __init__(self, model: str, *, device: str = "auto") -> None:
        self.model = model
        self.device = device
        self.name = f"local:{model}"

    def stats(self) -> dict[str, float]:
        """Load figures: seconds, parameters (millions), GPU memory."""
        return dict(load(self.model, self.device)[2])

    def _inputs(self, processor, vlm, turns: Sequence[Turn]):
        model_type = getattr(vlm.config, "model_type", "")
        if model_type in _PLAIN_PROMPT or getattr(processor, "chat_template", None) is None:
            if model_type not in _PLAIN_PROMPT:
                raise BackendError(f"The processor of {self.name} has no chat template; facelens cannot prompt it.")
            # PaliGemma: one image and a plain prompt; few-shot turns cannot be expressed
            query = turns[-1]
            images = query.images[-1:]
            if sum(len(t.images) for t in turns) > len(images):
                log.warning("%s takes one image and no chat turns: the few-shot exemplars are left out", self.name)
            from PIL import Image

            return processor(text=query.text, images=[Image.fromarray(i) for i in images] or None, return_tensors="pt")
        messages, images = chat_messages(turns)
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return processor(text=[text], images=images or None, return_tensors="pt")

    def generate(self, turns: Sequence[Turn], *, max_tokens: int = 400, json_mode: bool = False) -> Generation:
        """Greedy generation; ``json_mode`` is ignored (the prompt asks for JSON and the caller validates)."""
        torch = _torch()
        processor, vlm, load_stats = load(self.model, self.device)
        t0 = time.perf_counter()
        try:
            inputs = self._inputs(processor, vlm, turns)
        except (ValueError, TypeError) as exc:
            raise BackendError(f"{self.name} could not prepare the prompt: {exc}") from exc
        device = vlm.device
        inputs = {
            k: (v.to(device, dtype=vlm.dtype) if v.is_floating_point() else v.to(device)) for k, v in inputs.items()
        }
        n_prompt = int(inputs["input_ids"].shape[1])
        tok = getattr(processor, "tokenizer", processor)
        try:
            with torch.inference_mode():
                out = vlm.generate(**inputs, max_new_tokens=max_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        except torch.cuda.OutOfMemoryError as exc:
            raise ModelError(
                f"{self.name} ran out of GPU memory while generating.", hint="Use fewer exemplars or a smaller model."
            ) from exc
        new = out[:, n_prompt:]
        text = processor.batch_decode(new, skip_special_tokens=True)[0]
        seconds = time.perf_counter() - t0
        n_new = int(new.shape[1])
        stats = {"tokens_per_s": round(n_new / seconds, 2) if seconds > 0 else 0.0, **load_stats}
        if str(device).startswith("cuda"):
            stats["gpu_peak_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 3)
        return Generation(
            text=text,
            backend=self.name,
            latency_ms=round(seconds * 1000, 1),
            prompt_tokens=n_prompt,
            completion_tokens=n_new,
            stats=stats,
        )
