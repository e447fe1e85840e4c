"""facelens: ask natural-language questions about the people in photos, audio and recorded sessions.

The public Python API, in the spirit of whisper's ``load_model`` and face_recognition's functions::

    import facelens

    scene = facelens.analyze("group.jpg")            # SceneAnalysis: faces, boxes, emotions, identities
    answer = facelens.ask("group.jpg", "who is on the left?")
    print(answer.answer, answer.backend)

    chat = facelens.Chat(["group.jpg"])              # multi-turn: follow-ups resolve against earlier answers
    chat.ask("what is the person on the far left feeling?")
    chat.ask("and the person next to her?")

    gallery = facelens.Gallery()                     # the local identity gallery (FACELENS_HOME)
    gallery.enroll("Ada", ["ada1.jpg", "ada2.jpg"])
    gallery.identify("group.jpg")                    # one IdentityMatch or None per face
    gallery.remove("Ada")                            # erases her everywhere (gallery, sessions' names)

Everything is imported lazily: ``import facelens`` loads no model and no heavy library. The layers
behind this facade are ``facelens.tools`` (one capability each), ``facelens.agent`` (planning and
answers), ``facelens.eval`` (evaluations) and ``facelens.ui``; see ARCHITECTURE.md.
"""

from __future__ import annotations

import os as _os
from importlib import metadata as _metadata
from typing import TYPE_CHECKING

# onnxruntime 1.32 starts Microsoft's 1DS telemetry when it is imported: a .ses file in TMPDIR, a
# database under ~/.cache/Microsoft and DNS lookups of mobile.events.data.microsoft.com every few
# seconds, also offline. Every facelens module is imported after this package, so this line comes
# before any onnxruntime import facelens makes (ORT_DISABLE_TELEMETRY=0 in the environment opts in).
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# Run from a source tree (the clone's root on sys.path: pytest, ``python -m facelens.agent.cli``, the editable
# install setup.sh makes): ``facelens.agent`` is the folder ``agent/`` beside this one, as pyproject.toml's
# package-dir maps it (likewise tools/, eval/, prompts/, ui/). An installed wheel has no pyproject.toml above it.
_root = _os.path.dirname(_os.path.dirname(_os.path.realpath(__file__)))
if _os.path.isfile(_os.path.join(_root, "pyproject.toml")) and _os.path.isdir(_os.path.join(_root, "agent")):
    __path__.append(_root)  # noqa: F821 - a package's __path__
del _root

try:
    __version__ = _metadata.version("facelens")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:  # pragma: no cover - for type checkers only
    from facelens.agent.assistant.answers import Answer
    from facelens.agent.assistant.chat import Assistant as Chat
    from facelens.api_gallery import Gallery
    from facelens.tools.schema import SceneAnalysis


def analyze(image, *, detector: str | None = None) -> SceneAnalysis:
    """Everything facelens sees in one photo: faces (box, position, emotion with confidence,
    age/gender estimate, clothing colour, identity when enrolled). Same as ``facelens analyze --json``.

    Args:
        image: a path or the file's bytes (JPEG, PNG, WebP, ...).
        detector: face detector name (default ``fused``; ``facelens doctor`` lists them).
    """
    from facelens.agent.assistant import api

    return api.analyze(image, **({"detector": detector} if detector else {}))


def ask(image, question: str, **options) -> Answer:
    """Answer one question about a photo (and/or ``audio=``): the same as ``facelens ask``.

    Options: ``backend`` ("offline", "openai", "local"), ``audio``, ``detector``, ``model``,
    ``base_url``, ``allow_cloud_images``. Returns an Answer (answer, backend, faces, tool_calls).
    """
    from facelens.agent.assistant import api

    return api.ask(image, question, **options)


def __getattr__(name: str):
    # lazy classes: importing them pulls the agent (and its models' code) only when used
    if name == "Chat":
        from facelens.agent.assistant.chat import Assistant

        return Assistant
    if name == "Gallery":
        from facelens.api_gallery import Gallery

        return Gallery
    if name in ("FacelensError",):
        from facelens.tools import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'facelens' has no attribute {name!r}")


__all__ = ["analyze", "ask", "Chat", "Gallery", "FacelensError", "__version__"]
