"""The OpenAI backend: any OpenAI-compatible chat model with tool calls, via a LangChain agent.

``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` (or explicit arguments, or config.yaml; resolved by
:mod:`facelens.tools.settings`, the client built by :mod:`facelens.tools.openai_client`) pick the server: OpenAI, or any
compatible one (vLLM, Ollama, LM Studio, llama.cpp server). The scene facts (positions, clothing,
identity names, emotion scores: never embeddings, never pixels) go with the first prompt, as the
result of an ``analyze_scene`` tool call (JSON in a tool message: enrolled names are data, not
prompt text), so a typical question takes one LLM call, or two with one tool round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from facelens import prompts
from facelens.agent.assistant.backends.base import BackendReply, Conversation, mentioned_faces, speaker_line
from facelens.agent.assistant.toolbox import ToolBox, scene_facts
from facelens.tools.errors import BackendError, ConfigError
from facelens.tools.openai_client import make_chat_model
from facelens.tools.settings import LLMSettings, resolve_llm

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"
#: a hard stop on chat-model calls per question (a typical one needs 1-2)
MAX_LLM_CALLS = 4


class OpenAIBackend:
    """A LangChain ``create_agent`` loop over ``ChatOpenAI`` (or any chat model passed in)."""

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        streaming: bool = False,
        chat_model: Any = None,
        max_llm_calls: int = MAX_LLM_CALLS,
        timeout_s: float = 60.0,
        use_environment_key: bool = True,
        settings: LLMSettings | None = None,
    ) -> None:
        """
        Args:
            model: model name (default FACELENS_OPENAI_MODEL, else config.yaml's openai_model, else gpt-4o-mini).
            base_url: an OpenAI-compatible server (default OPENAI_BASE_URL, else config.yaml's base_url).
            api_key: the key (default OPENAI_API_KEY; a local server may need none).
            streaming: stream tokens (Server-Sent Events) instead of one response.
            chat_model: a ready LangChain chat model to use instead of ChatOpenAI (tests, other providers).
            max_llm_calls: stop the tool loop after this many model calls.
            timeout_s: per-request timeout.
            use_environment_key: fall back to OPENAI_API_KEY when no key is given; False for a server
                the host did not configure (a URL typed in the app), which must never receive the host's key.
            settings: resolved settings (:func:`facelens.tools.settings.resolve_llm`) instead of the
                three above.
        """
        if settings is None:
            settings = resolve_llm(
                "openai", model=model, base_url=base_url, api_key=api_key, environment_key=use_environment_key
            )
        self.settings = settings
        self.model = settings.model or DEFAULT_MODEL
        self.base_url = settings.base_url or None
        self.max_llm_calls = max_llm_calls
        if chat_model is None:
            chat_model = make_chat_model(
                settings, model=self.model, purpose="the OpenAI backend", streaming=streaming, timeout=timeout_s
            )
        self.chat_model = chat_model
        self.name = f"openai:{self.model}"

    def answer(
        self, question: str, box: ToolBox, convo: Conversation, on_token: Callable[[str], None] | None = None
    ) -> BackendReply:
        from langchain.agents import create_agent
        from langchain.agents.middleware import ModelCallLimitMiddleware
        from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

        counter = _CallCounter(on_token)
        agent = create_agent(
            self.chat_model,
            tools=box.langchain_tools(),
            system_prompt=prompts.render("assistant", "system", images_allowed=box.allow_cloud_images),
            middleware=[ModelCallLimitMiddleware(run_limit=self.max_llm_calls, exit_behavior="end")],
        )
        messages: list[Any] = []
        for q, a in convo.history[-6:]:  # earlier turns, as text only
            messages += [HumanMessage(q), AIMessage(a)]
        messages.append(HumanMessage(user_turn(question, box, speaker_line(convo))))
        if box.images:  # the facts, as the analyze_scene tool's result: data in a tool message
            call = {"name": "analyze_scene", "args": {}, "id": "facts_1", "type": "tool_call"}
            scene = box.scene()  # analysed (and logged) once, by user_turn
            facts = prompts.data_json(
                {"image": box.image_name(), "detector": scene.detector, "faces": scene_facts(scene)}
            )
            messages += [AIMessage("", tool_calls=[call]), ToolMessage(facts, tool_call_id="facts_1")]
        try:
            result = agent.invoke(
                {"messages": messages}, config={"callbacks": [counter], "recursion_limit": 10 * self.max_llm_calls + 10}
            )
        except Exception as exc:
            raise _backend_error(exc, self.base_url) from exc
        text = _text(result["messages"][-1].content).strip()
        if counter.calls >= self.max_llm_calls and text.startswith("Model call limits exceeded"):
            text = prompts.render("assistant", "call_limit", calls=counter.calls)
        if not text:
            raise BackendError(
                f"The model {self.model} returned an empty answer.", hint="Try again, or use another model."
            )
        n_faces = len(box.scene().faces) if box.images else 0
        if box.images_sent:
            text += " " + prompts.render(
                "assistant", "cloud_images_note", where=", ".join(dict.fromkeys(box.images_sent))
            )
        return BackendReply(text=text, faces=mentioned_faces(text, n_faces), llm_calls=counter.calls)


def user_turn(question: str, box: ToolBox, speaker: str = "") -> str:
    """The first user message: the question, which images there are, and how the user sounded when
    the question was spoken. The scene facts follow as the analyze_scene tool's result."""
    if not box.images:
        return prompts.render(
            "assistant", "user_turn", images=None, audio=box.audio is not None, speaker=speaker, question=question
        )
    scene = box.analyze_scene()
    return prompts.render(
        "assistant",
        "user_turn",
        images=prompts.data_json([n for n, _ in box.images]),
        current=prompts.data_json(box.image_name()),
        count=len(scene.faces),
        detector=scene.detector,
        audio=box.audio is not None,
        speaker=speaker,
        question=question,
    )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content or [])


def _backend_error(exc: Exception, base_url: str | None) -> Exception:
    try:
        import openai
    except ImportError:  # pragma: no cover - a dependency of langchain-openai
        return BackendError(f"The LLM call failed: {exc}")
    where = base_url or "api.openai.com"
    if isinstance(exc, openai.AuthenticationError):
        return ConfigError(f"{where} rejected the API key.", hint="Check OPENAI_API_KEY.")
    if isinstance(exc, openai.NotFoundError):
        return ConfigError(
            f"{where} does not know that model or path: {exc}",
            hint="Set FACELENS_OPENAI_MODEL to a model the server serves.",
        )
    if isinstance(exc, (openai.APIConnectionError, openai.APITimeoutError)):
        return BackendError(
            f"Cannot reach the LLM server at {where}.",
            hint="Check OPENAI_BASE_URL and that the server is running, or use --backend offline.",
        )
    if isinstance(exc, openai.APIError):
        return BackendError(f"The LLM server at {where} returned an error: {exc}")
    return exc


class _CallCounter:
    """LangChain callback: counts chat-model calls and forwards streamed tokens."""

    def __new__(cls, on_token: Callable[[str], None] | None):
        from langchain_core.callbacks import BaseCallbackHandler

        class Counter(BaseCallbackHandler):
            def __init__(self) -> None:
                self.calls = 0

            def on_chat_model_start(self, serialized: Any, messages: Any, **kw: Any) -> None:
                self.calls += 1

            def on_llm_start(self, serialized: Any, prompts: Any, **kw: Any) -> None:
                self.calls += 1

            def on_llm_new_token(self, token: str, **kw: Any) -> None:
                if on_token is not None and token:
                    on_token(token)

        return Counter()
