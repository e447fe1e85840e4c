"""OpenAI vision, or any OpenAI-compatible vision server (vLLM, Ollama, LM Studio, llama.cpp server).

Images travel as base64 JPEG data URLs inside ``image_url`` content parts, downscaled and
re-encoded until each fits the size limit, so a huge photo never becomes a huge request.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np

from facelens.tools import settings
from facelens.tools.errors import BackendError, ConfigError, InputError
from facelens.tools.vlm_backends.base import Generation, Turn

if TYPE_CHECKING:
    from facelens.tools.settings import VLMSettings

log = logging.getLogger(__name__)

#: longest image side sent, in pixels (a face crop needs no more)
MAX_SIDE = 768
#: largest encoded image, in bytes, before base64
MAX_IMAGE_BYTES = 400_000
#: most images in one request
MAX_IMAGES = 16


def image_data_url(rgb: np.ndarray, *, max_side: int | None = None, max_bytes: int | None = None) -> str:
    """Encode an RGB image as a ``data:image/jpeg;base64,...`` URL of at most ``max_bytes`` (decoded).

    Defaults: FACELENS_VLM_MAX_SIDE (768 px) and FACELENS_VLM_MAX_IMAGE_BYTES (400 kB).
    Shrinks the image and lowers the JPEG quality step by step until it fits.

    Raises:
        InputError: the image is empty, or cannot be made small enough.
    """
    from PIL import Image

    max_side = max_side or settings.value("vlm_max_side", default=MAX_SIDE)
    max_bytes = max_bytes or settings.value("vlm_max_image_bytes", default=MAX_IMAGE_BYTES)
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError("Cannot send an empty image to the VLM.")
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    side = min(max_side, max(img.size))
    for _ in range(12):
        work = img.copy()
        if max(work.size) > side:
            work.thumbnail((side, side), Image.Resampling.LANCZOS)
        for quality in (90, 80, 70, 60):
            buf = io.BytesIO()
            work.save(buf, format="JPEG", quality=quality)
            if buf.tell() <= max_bytes:
                return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        side = int(side * 0.75)
        if side < 32:
            break
    raise InputError(
        f"Cannot fit an image into the VLM size limit of {max_bytes} bytes.", hint="Raise FACELENS_VLM_MAX_IMAGE_BYTES."
    )


def _is_local_url(url: str | None) -> bool:
    """True for a server on this machine (loopback), where images do not leave it."""
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OpenAIVision:
    """Chat completions with image content parts, through the ``openai`` SDK."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        detail: str = "auto",
        settings: VLMSettings | None = None,
    ) -> None:
        """``settings`` (:func:`facelens.tools.settings.resolve_vlm`) name the server and where its key is;
        without them, ``base_url`` and ``api_key`` are the whole story (nothing is read from the environment)."""
        if settings is None:
            from facelens.tools.settings import VLMSettings

            settings = VLMSettings(
                "openai", model, base_url or "", "given" if api_key else "none", "", "auto", {}, api_key or ""
            )
        if settings.api_key_source == "none" and not settings.base_url:
            raise ConfigError(
                "No OpenAI API key is set.",
                hint="Set OPENAI_API_KEY, or FACELENS_VLM_BASE_URL for an OpenAI-compatible server.",
            )
        self.settings = settings
        self.model = model
        self.base_url = settings.base_url or None
        self.timeout = timeout
        self.detail = detail
        self.local = _is_local_url(self.base_url)
        where = f"@{self.base_url}" if self.base_url else ""
        self.name = f"openai:{model}{where}"
        self._client = None

    def _get_client(self):
        if self._client is None:
            from facelens.tools.openai_client import make_client

            self._client = make_client(self.settings, purpose="the OpenAI vision backend", timeout=self.timeout)
        return self._client

    def messages(self, turns: Sequence[Turn]) -> list[dict]:
        """The chat-completions ``messages`` for a conversation (images as data-URL content parts)."""
        n_images = sum(len(t.images) for t in turns)
        limit = settings.value("vlm_max_images", default=MAX_IMAGES)
        if n_images > limit:
            raise InputError(
                f"{n_images} images in one VLM request; the limit is {limit}.", hint="Use fewer exemplars (--shots)."
            )
        out = []
        for t in turns:
            if t.role != "user" or not t.images:
                out.append({"role": t.role, "content": t.text})
                continue
            parts = []
            for p in t.parts:
                if isinstance(p, str):
                    parts.append({"type": "text", "text": p})
                else:
                    parts.append({"type": "image_url", "image_url": {"url": image_data_url(p), "detail": self.detail}})
            out.append({"role": "user", "content": parts})
        return out

    def generate(self, turns: Sequence[Turn], *, max_tokens: int = 400, json_mode: bool = False) -> Generation:
        """Send the conversation and return the reply text."""
        import openai

        kwargs: dict = {"model": self.model, "messages": self.messages(turns), "temperature": 0}
        if self.base_url:  # compatible servers know max_tokens; not all know response_format
            kwargs["max_tokens"] = max_tokens
        else:
            kwargs["max_completion_tokens"] = max_tokens
            if json_mode:
                kwargs["response_format"] = {"type": "json_object"}
        t0 = time.perf_counter()
        try:
            resp = self._get_client().chat.completions.create(**kwargs)
        except openai.AuthenticationError as exc:
            raise ConfigError(
                f"{self.name} refused the API key.", hint="Check OPENAI_API_KEY / FACELENS_VLM_API_KEY."
            ) from exc
        except openai.NotFoundError as exc:
            raise ConfigError(
                f"{self.name}: the server does not know this model.",
                hint="Set FACELENS_VLM_MODEL to a vision model it serves.",
            ) from exc
        except openai.APIConnectionError as exc:
            raise BackendError(
                f"Cannot reach the VLM server for {self.name}: {exc}.", hint="Check the network or the base URL."
            ) from exc
        except openai.APIStatusError as exc:
            raise BackendError(f"{self.name} answered HTTP {exc.status_code}: {exc.message}") from exc
        except openai.OpenAIError as exc:
            raise BackendError(f"{self.name} failed: {exc}") from exc
        latency = (time.perf_counter() - t0) * 1000
        if not resp.choices:
            raise BackendError(f"{self.name} returned no answer.")
        text = resp.choices[0].message.content or ""
        usage = resp.usage
        return Generation(
            text=text,
            backend=self.name,
            latency_ms=round(latency, 1),
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )
