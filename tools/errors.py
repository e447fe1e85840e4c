"""The one facelens error hierarchy.

Every error carries a message that says what went wrong and, where there is one, a hint that says
what to do about it. The CLI and the UI print ``str(error)``; they never show a traceback for these.
"""

from __future__ import annotations


class FacelensError(Exception):
    """Base class of every error facelens raises on purpose."""

    #: short machine-readable kind, used in JSON error output
    kind = "error"

    def __init_subclass__(cls, kind: str | None = None, **kwargs: object) -> None:
        # ``class ImageError(InputError, kind="bad_image")``: the kind is given where the class is named
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, str | None]:
        return {"error": self.kind, "message": self.message, "hint": self.hint}


class InputError(FacelensError, kind="bad_input"):
    """The user's input (a file, a question, an argument) cannot be used."""


class ImageError(InputError, kind="bad_image"):
    """An image is missing, empty, corrupt, truncated, too large or not an image."""


class MediaError(InputError, kind="bad_media"):
    """An audio or video file is missing, empty, corrupt, too long or of the wrong kind."""


class NoFaceError(InputError, kind="no_face"):
    """An operation needs a face and none (or more than one) was found."""


class NotFoundError(InputError, kind="not_found"):
    """An unknown name: a person, a session, a backend, a detector, a face number."""


class ModelError(FacelensError, kind="model"):
    """A model file is missing, corrupt, or failed to run."""


class DependencyError(FacelensError, kind="dependency"):
    """An optional package or a system library is not installed."""


class GalleryError(FacelensError, kind="gallery"):
    """The identity gallery cannot be read or written."""


class ConfigError(FacelensError, kind="config"):
    """Configuration is missing or invalid (API keys, base URLs, settings)."""


class BackendError(FacelensError, kind="backend"):
    """An LLM or VLM backend failed (network, server, malformed output)."""


def missing_dependency(package: str, extra: str | None = None, why: str = "") -> DependencyError:
    """Build a DependencyError that names the pip extra that installs ``package``."""
    hint = f"Install it with: pip install 'facelens[{extra}]'" if extra else f"Install it with: pip install {package}"
    what = f" (needed for {why})" if why else ""
    return DependencyError(f"The package '{package}' is not installed{what}.", hint=hint)
