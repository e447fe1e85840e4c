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


def session_options(ort):  # type: ignore[no-untyped-def]
    """facelens's options for a CPU session: quiet, intra-op threads from OMP_NUM_THREADS when set, and idle
    threads that sleep instead of spinning: onnxruntime's threads otherwise busy-wait between runs and steal
    the cores that the landmarker's threads, running at the same time, and other processes need (issue 22:
    the six-face photo's analysis 632-932 ms with spinning, 424-536 ms without, the same load; same output)."""
    import os

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    threads = os.environ.get("OMP_NUM_THREADS", "").strip()
    if threads.isdigit() and int(threads) > 0:
        opts.intra_op_num_threads = int(threads)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


@lru_cache(maxsize=8)
def onnx_session(path: str):
    """An onnxruntime session for a model file, cached by path."""
    ort = onnxruntime()

    if not Path(path).is_file():
        raise ModelError(f"ONNX model not found: {path}.")
    opts = session_options(ort)
    try:
        return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"Cannot load the ONNX model {path}: {exc}") from exc
