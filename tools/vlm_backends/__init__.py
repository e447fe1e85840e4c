"""Vision-language model (VLM) backends behind one small interface, and how one is chosen.

A backend turns a conversation of :class:`Turn` objects (text and RGB images) into text::

    backend.generate(turns, max_tokens=400) -> Generation

Backends: ``openai`` (OpenAI vision or any OpenAI-compatible server by base URL, in
:mod:`.openai_vision`) and ``local`` (a Hugging Face VLM through transformers, in :mod:`.hf_local`).
:func:`candidates` lists the backends to try, in the fallback order used when the user has not
chosen one: an allowed cloud model, then a local VLM on a GPU, then none (the caller falls back to
the local emotion classifier alone).

Settings (arguments, else environment variables, else config.yaml keys; :func:`facelens.tools.settings.resolve_vlm`):
    FACELENS_VLM / vlm: ``auto`` (default), ``openai``, ``local`` or ``none``.
    FACELENS_VLM_MODEL / vlm_model: OpenAI(-compatible) model name (default ``gpt-4o-mini``).
    FACELENS_VLM_BASE_URL, OPENAI_BASE_URL / vlm_base_url: an OpenAI-compatible server (vLLM, Ollama, LM Studio...).
    FACELENS_VLM_API_KEY / OPENAI_API_KEY: its key (servers without keys accept any value).
    FACELENS_ALLOW_CLOUD_IMAGES / allow_cloud_images: ``1`` allows sending images to a non-local server (default: not allowed).
    FACELENS_LOCAL_VLM / local_vlm: folder (or cached hub id) of local Hugging Face VLM weights.
    FACELENS_LOCAL_VLM_DEVICE / local_vlm_device: ``auto`` (default), ``cuda``, ``cuda:N`` or ``cpu``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from facelens.tools.errors import ConfigError, NotFoundError
from facelens.tools.vlm_backends.base import Generation, Part, Turn, VLMBackend, turn  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

DEFAULT_CLOUD_MODEL = "gpt-4o-mini"

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


def cloud_allowed(allow_cloud: bool | None = None) -> bool:
    """Whether images may be sent to a non-local server: only when the user allowed it
    (the flag, FACELENS_ALLOW_CLOUD_IMAGES, or allow_cloud_images in config.yaml; default no)."""
    from facelens.tools.config import cloud_images_allowed

    return cloud_images_allowed(allow_cloud)


def _openai(model: str | None, base_url: str | None, api_key: str | None) -> VLMBackend:
    from facelens.tools.settings import resolve_vlm
    from facelens.tools.vlm_backends.openai_vision import OpenAIVision

    chosen = resolve_vlm("openai", model=model, base_url=base_url, api_key=api_key)
    return OpenAIVision(model=chosen.model, settings=chosen)


def _local(model: str | None, base_url: str | None, api_key: str | None) -> VLMBackend:
    from facelens.tools.settings import resolve_vlm
    from facelens.tools.vlm_backends.hf_local import LocalVLM

    chosen = resolve_vlm("local", local_model=model)
    if not chosen.local_model:
        raise ConfigError(
            "No local VLM is configured.",
            hint="Set FACELENS_LOCAL_VLM to a folder with Hugging Face VLM weights "
            "(e.g. SmolVLM-256M-Instruct or Qwen2.5-VL-3B-Instruct), or pass --vlm-model.",
        )
    return LocalVLM(chosen.local_model, device=chosen.local_device)


#: the registry of VLM backends: kind -> factory(model, base_url, api_key); a backend's module is
#: imported only when it is built. The kinds a user can choose are derived from it.
BACKENDS: dict[str, Callable[[str | None, str | None, str | None], VLMBackend]] = {"openai": _openai, "local": _local}
BACKEND_CHOICES = ("auto", *BACKENDS, "none")  # auto: the fallback order of candidates(); none: no VLM


def make_backend(
    kind: str, *, model: str | None = None, base_url: str | None = None, api_key: str | None = None
) -> VLMBackend:
    """Build one backend by kind (``openai`` or ``local``) from arguments, the environment and config.yaml
    (:func:`facelens.tools.settings.resolve_vlm`)."""
    factory = BACKENDS.get(kind)
    if factory is None:
        raise NotFoundError(f"Unknown VLM backend '{kind}'. Known: {', '.join(BACKEND_CHOICES)}.")
    return factory(model, base_url, api_key)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def candidates(
    choice: str | VLMBackend | None = None, *, allow_cloud: bool | None = None
) -> tuple[list[VLMBackend], bool, list[str]]:
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
    from facelens.tools.settings import resolve_vlm

    configured = resolve_vlm(choice)
    kind = configured.backend
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
    if configured.base_url or configured.api_key_source != "none":
        backend = make_backend("openai")
        if backend.local or cloud_allowed(allow_cloud):
            out.append(backend)
        else:
            notes.append(f"skipped {backend.name}: sending images off this machine is not allowed")
    if configured.local_model:
        if _cuda_available() or configured.local_device.startswith("cpu"):
            out.append(make_backend("local"))
        else:
            notes.append("skipped the local VLM: no CUDA GPU (set FACELENS_VLM=local to run it on the CPU anyway)")
    return out, False, notes
