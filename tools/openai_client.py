"""The one place that builds OpenAI(-compatible) clients: the answering LLM, the words' emotion, session
answers, transcription and the vision model all get theirs here, from resolved settings.

The key sent is the one the settings name (:mod:`facelens.tools.settings` decides: the host's
OPENAI_API_KEY only for an endpoint the host configured); it is read from the environment at the
moment the client is built and never stored in the settings.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from facelens.tools.errors import ConfigError, missing_dependency
from facelens.tools.settings import variable

log = logging.getLogger(__name__)

#: what a compatible server that wants no key gets (the SDK insists on some string)
NO_KEY = "not-needed"


class Endpoint(Protocol):
    """What a client needs from settings (:class:`~facelens.tools.settings.LLMSettings` or ``VLMSettings``)."""

    base_url: str
    api_key_source: str
    api_key: str


def credentials(settings: Endpoint, *, purpose: str) -> tuple[str | None, str]:
    """(base_url or None for OpenAI, the key to send) for these settings.

    Raises:
        ConfigError: neither a key nor a server is configured.
    """
    source = settings.api_key_source
    if source == "given":
        key = settings.api_key
    elif source.startswith("env:"):
        key = variable(source[4:])
    else:
        key = ""
    base_url = (settings.base_url or "").strip() or None
    if not key and not base_url:
        raise ConfigError(
            f"No LLM is configured for {purpose}: it needs an API key or an OpenAI-compatible server.",
            hint="Set OPENAI_API_KEY, or OPENAI_BASE_URL (e.g. http://localhost:11434/v1 for Ollama), or use --backend offline.",
        )
    log.debug("OpenAI-compatible client for %s: %s (key: %s)", purpose, base_url or "api.openai.com", source)
    return base_url, key or NO_KEY


def make_client(settings: Endpoint, *, purpose: str, timeout: float = 60.0, max_retries: int = 1) -> Any:
    """An ``openai.OpenAI`` client for these settings.

    Args:
        settings: resolved LLM or VLM settings (their base_url and key source).
        purpose: what the client is for, in words ("the words' emotion"), for errors and logs.
        timeout: per-request timeout in seconds.
        max_retries: the SDK's retries on connection errors and 5xx.
    """
    base_url, key = credentials(settings, purpose=purpose)
    try:
        from openai import OpenAI
    except ImportError as exc:
        raise missing_dependency("openai", why=purpose) from exc
    return OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)


def make_chat_model(
    settings: Endpoint,
    *,
    model: str,
    purpose: str,
    streaming: bool = False,
    timeout: float = 60.0,
    max_retries: int = 1,
) -> Any:
    """A LangChain ``ChatOpenAI`` for these settings (the answering agent's tool-calling loop)."""
    base_url, key = credentials(settings, purpose=purpose)
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:
        raise missing_dependency("langchain-openai", why=purpose) from exc
    return ChatOpenAI(
        model=model,
        base_url=base_url,
        api_key=key,
        streaming=streaming,
        temperature=0,
        timeout=timeout,
        max_retries=max_retries,
    )
