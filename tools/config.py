"""Where facelens keeps its local state, and the few settings every tool shares.

Everything lives under ``FACELENS_HOME`` (default ``~/.facelens``): the identity gallery, the
analysis cache, exemplars and sessions. Nothing here touches the network.
"""

from __future__ import annotations

import os
from pathlib import Path

from facelens.tools.errors import ConfigError

#: hard limits on what we accept as input, to refuse decompression bombs and runaway files
MAX_IMAGE_BYTES = int(os.environ.get("FACELENS_MAX_IMAGE_BYTES", 50 * 1024 * 1024))
MAX_IMAGE_PIXELS = int(os.environ.get("FACELENS_MAX_IMAGE_PIXELS", 100_000_000))


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
