"""Vision-language model (VLM) backends behind one small interface, and how one is chosen.

A backend turns a conversation of :class:`Turn` objects (text and RGB images) into text::

    backend.generate(turns, max_tokens=400) -> Generation

Backends: ``openai`` (OpenAI vision or any OpenAI-compatible server by base URL, in
:mod:`.openai_vision`) and ``local`` (a Hugging Face VLM through transformers, in :mod:`.hf_local`).
:func:`candidates` lists the backends to try, in the fallback order used when the user has not
chosen one: an allowed cloud model, then a local VLM on a GPU, then none (the caller falls back to
the local emotion classifier alone).

Settings (arguments win over environment variables):
    FACELENS_VLM: ``auto`` (default), ``openai``, ``local`` or ``none``.
    FACELENS_VLM_MODEL: OpenAI(-compatible) model name (default ``gpt-4o-mini``).
    FACELENS_VLM_BASE_URL / OPENAI_BASE_URL: an OpenAI-compatible server (vLLM, Ollama, LM Studio...).
    FACELENS_VLM_API_KEY / OPENAI_API_KEY: its key (servers without keys accept any value).
    FACELENS_ALLOW_CLOUD_IMAGES: ``1`` allows sending images to a non-local server (default: not allowed).
    FACELENS_LOCAL_VLM: folder (or cached hub id) of local Hugging Face VLM weights.
    FACELENS_LOCAL_VLM_DEVICE: ``auto`` (default), ``cuda``, ``cuda:N`` or ``cpu``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from facelens.tools.errors import ConfigError, NotFoundError

log = logging.getLogger(__name__)

BACKEND_CHOICES = ("auto", "openai", "local", "none")
DEFAULT_CLOUD_MODEL = "gpt-4o-mini"

Part = str | np.ndarray  # a text part, or an H x W x 3 uint8 RGB image


@dataclass(frozen=True)
class Turn:
    """One message of a VLM conversation."""

    role: Literal["system", "user", "assistant"]
    parts: tuple[Part, ...]  # text and images, in order

    @property
    def text(self) -> str:
        return "\n".join(p for p in self.parts if isinstance(p, str))

    @property
    def images(self) -> list[np.ndarray]:
        return [p for p in self.parts if not isinstance(p, str)]


def turn(role: Literal["system", "user", "assistant"], *parts: Part) -> Turn:
    """Build a :class:`Turn`; images must be H x W x 3 uint8 arrays."""
    for p in parts:
        if not isinstance(p, str) and (not isinstance(p, np.ndarray) or p.ndim != 3 or p.shape[2] != 3):
            raise TypeError("a turn part must be text or an H x W x 3 RGB array")
    return Turn(role, tuple(parts))


@dataclass(frozen=True)
class Generation:
    """The text a backend produced, and what it cost."""

    text: str  # the raw model output
    backend: str  # e.g. "openai:gpt-4o-mini", "local:/models/SmolVLM-256M-Instruct"
    latency_ms: float  # wall time of the call
    prompt_tokens: int | None = None  # as reported by the server / counted locally
    completion_tokens: int | None = None
    stats: dict[str, float] = field(default_factory=dict)  # backend-specific figures (tokens/s, GPU memory)


@runtime_checkable
class VLMBackend(Protocol):
    """What every VLM backend provides."""

    name: str  # shown in answers: which model ran
    local: bool  # True when images stay on this machine

    def generate(self, turns: Sequence[Turn], *, max_tokens: int = 400, json_mode: bool = False) -> Generation:
        """Answer the conversation; the last turn is the user's."""
        ...


# --- prompts ---------------------------------------------------------------------------------


def render(key: str, file: str = "vlm", **variables: object) -> str:
    """Render one template of ``prompts/<file>.yaml`` (default the VLM's) through :mod:`facelens.prompts`."""
    from facelens import prompts

    return prompts.render(file, key, **variables)


# --- crops -----------------------------------------------------------------------------------


def person_crop(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The region a VLM sees for one face: the face with its head, shoulders and upper body.

    Wider than the face box so headwear, hair, clothing and held objects are visible.
    """
    x, y, w, h = box
    H, W = rgb.shape[:2]
    x0, x1 = max(0, int(x - 1.0 * w)), min(W, int(x + 2.0 * w))
    y0, y1 = max(0, int(y - 0.8 * h)), min(H, int(y + 2.6 * h))
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


# --- choosing a backend ------------------------------------------------------------------------


def _env(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def cloud_allowed(allow_cloud: bool | None = None) -> bool:
    """Whether images may be sent to a non-local server: only when the user allowed it
    (the flag, FACELENS_ALLOW_CLOUD_IMAGES, or allow_cloud_images in config.yaml; default no)."""
    from facelens.tools.config import cloud_images_allowed

    return cloud_images_allowed(allow_cloud)


def make_backend(kind: str, *, model: str | None = None, base_url: str | None = None, api_key: str | None = None) -> VLMBackend:
    """Build one backend by kind (``openai`` or ``local``) from arguments and the environment."""
    if kind == "openai":
        from facelens.tools.vlm_backends.openai_vision import OpenAIVision

        return OpenAIVision(
            model=model or _env("FACELENS_VLM_MODEL") or DEFAULT_CLOUD_MODEL,
            base_url=base_url or _env("FACELENS_VLM_BASE_URL", "OPENAI_BASE_URL"),
            api_key=api_key or _env("FACELENS_VLM_API_KEY", "OPENAI_API_KEY"),
        )
    if kind == "local":
        from facelens.tools.vlm_backends.hf_local import LocalVLM

        path = model or _env("FACELENS_LOCAL_VLM")
        if not path:
            raise ConfigError(
                "No local VLM is configured.",
                hint="Set FACELENS_LOCAL_VLM to a folder with Hugging Face VLM weights "
                "(e.g. SmolVLM-256M-Instruct or Qwen2.5-VL-3B-Instruct), or pass --vlm-model.",
            )
        return LocalVLM(path, device=_env("FACELENS_LOCAL_VLM_DEVICE") or "auto")
    raise NotFoundError(f"Unknown VLM backend '{kind}'. Known: {', '.join(BACKEND_CHOICES)}.")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def candidates(choice: str | VLMBackend | None = None, *, allow_cloud: bool | None = None) -> tuple[list[VLMBackend], bool, list[str]]:
    """The backends to try, in order.

    Args:
        choice: a backend object, a kind from BACKEND_CHOICES, or None for FACELENS_VLM (default auto).
        allow_cloud: may images leave the machine? None = FACELENS_ALLOW_CLOUD_IMAGES (default no).

    Returns:
        (backends, explicit, notes): explicit is True when the user chose, in which case the caller
        must report a failure instead of falling back; notes say why a backend was skipped.
    """
    if isinstance(choice, VLMBackend):
        return [choice], True, []
    kind = (choice or os.environ.get("FACELENS_VLM") or "auto").strip().lower()
    if kind not in BACKEND_CHOICES:
        raise NotFoundError(f"Unknown VLM backend '{kind}'. Known: {', '.join(BACKEND_CHOICES)}.")
    if kind == "none":
        return [], True, ["no VLM: the user chose the local classifier alone"]
    if kind != "auto":
        backend = make_backend(kind)
        if not backend.local and not cloud_allowed(allow_cloud):
            raise ConfigError(
                f"The VLM {backend.name} is not on this machine and sending images off it is not allowed.",
                hint="Set FACELENS_ALLOW_CLOUD_IMAGES=1 (or pass --allow-cloud-images) if you agree, or use a local VLM.",
            )
        return [backend], True, []
    out: list[VLMBackend] = []
    notes: list[str] = []
    if _env("FACELENS_VLM_BASE_URL", "OPENAI_BASE_URL", "FACELENS_VLM_API_KEY", "OPENAI_API_KEY"):
        backend = make_backend("openai")
        if backend.local or cloud_allowed(allow_cloud):
            out.append(backend)
        else:
            notes.append(f"skipped {backend.name}: sending images off this machine is not allowed")
    if _env("FACELENS_LOCAL_VLM"):
        if _cuda_available() or (_env("FACELENS_LOCAL_VLM_DEVICE") or "").startswith("cpu"):
            out.append(make_backend("local"))
        else:
            notes.append("skipped the local VLM: no CUDA GPU (set FACELENS_VLM=local to run it on the CPU anyway)")
    return out, False, notes
