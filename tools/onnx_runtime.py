"""onnxruntime for facelens: the module with its telemetry off, and one cached session per model file.

Below :mod:`facelens.tools.models` and :mod:`facelens.tools.dlib_resnet` (both use it; neither is imported here).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from facelens.tools.errors import ModelError


def onnxruntime():  # type: ignore[no-untyped-def]
    """The ``onnxruntime`` module, with its telemetry turned off: every session facelens (or faster-whisper's
    VAD) creates comes after this call. onnxruntime 1.32 otherwise looks up mobile.events.data.microsoft.com
    every few seconds and writes a ``.ses`` file under TMPDIR, even offline. Its 1DS telemetry starts at
    import and obeys only ``ORT_DISABLE_TELEMETRY``, which ``facelens/__init__.py`` sets before any import;
    ``disable_telemetry_events()`` covers the builds with the older (ETW) telemetry."""
    import os
    import sys

    if "onnxruntime" not in sys.modules:
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime as ort

    _telemetry_off(ort)
    return ort


@lru_cache(maxsize=1)
def _telemetry_off(ort) -> None:  # type: ignore[no-untyped-def]
    off = getattr(ort, "disable_telemetry_events", None)
    if off is not None:
        off()


@lru_cache(maxsize=8)
def onnx_session(path: str):
    """An onnxruntime session for a model file, cached by path."""
    ort = onnxruntime()

    if not Path(path).is_file():
        raise ModelError(f"ONNX model not found: {path}.")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"Cannot load the ONNX model {path}: {exc}") from exc
