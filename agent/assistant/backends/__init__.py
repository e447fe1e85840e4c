"""The LLM backends that answer questions, by name: the one registry (name -> factory).

Every list of backend names (``--backend``'s choices, the service's validation, the web app's select
box) is :data:`NAMES`, derived from :data:`REGISTRY`. The settings table (tools/settings.py, which may
not import agent/) validates ``FACELENS_BACKEND`` / ``backend:`` against ``LLM_BACKENDS``; this module
checks at import that the two are the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from facelens.tools.settings import LLM_BACKENDS, LLMSettings

if TYPE_CHECKING:
    from facelens.agent.assistant.backends.base import Backend

#: a factory builds its backend from the resolved LLM settings (``streaming``: stream the answer's tokens)
Factory = Callable[[LLMSettings, bool], "Backend"]


def _offline(llm: LLMSettings, streaming: bool) -> Backend:
    from facelens.agent.assistant.backends.offline import OfflineBackend

    return OfflineBackend()


def _openai(llm: LLMSettings, streaming: bool) -> Backend:
    from facelens.agent.assistant.backends.openai import OpenAIBackend

    return OpenAIBackend(settings=llm, streaming=streaming)


def _local(llm: LLMSettings, streaming: bool) -> Backend:
    from facelens.agent.assistant.backends.local import LocalBackend

    return LocalBackend(llm.model or None)


REGISTRY: dict[str, Factory] = {"offline": _offline, "openai": _openai, "local": _local}
NAMES: tuple[str, ...] = tuple(REGISTRY)
if set(NAMES) != set(LLM_BACKENDS):  # a backend the settings would refuse, or a setting no backend serves
    raise RuntimeError(f"The LLM backend registry {NAMES} and the settings' LLM_BACKENDS {LLM_BACKENDS} differ.")


def create(llm: LLMSettings, *, streaming: bool = False) -> Backend:
    """The backend the resolved settings name (``llm.backend`` is one of :data:`NAMES`)."""
    return REGISTRY[llm.backend](llm, streaming)
