"""What every VLM backend shares: the conversation types and the backend interface.

The backends (:mod:`.openai_vision`, :mod:`.hf_local`) import these from here, never from the package
that chooses between them (:mod:`facelens.tools.vlm_backends`, which re-exports them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

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
