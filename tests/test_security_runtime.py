"""Issue 25, in-process: a bad image never poisons the detectors, no network from onnxruntime, and
audio is streamed so ingest memory does not grow with a recording's duration."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facelens.tools import media
from facelens.tools.errors import ImageError, ModelError


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 120, 120)).save(buf, format="PNG")
    return buf.getvalue()


# --- 1. bad images ----------------------------------------------------------------------------------


def test_bad_shapes_then_a_photo_in_process(group_jpg):
    from facelens import analyze

    for size in ((1, 1), (4000, 1)):
        with pytest.raises(ImageError):
            analyze(_png(size))
    assert len(analyze(group_jpg[0]).faces) == 4


def test_a_failed_mediapipe_run_does_not_break_later_ones(astronaut, monkeypatch):
    """The graph that failed is thrown away; the next call (any thread) gets a working one."""
    bf = pytest.importorskip("facelens.tools.blazeface")
    if not bf.available():
        pytest.skip("mediapipe is not installed")
    before = bf.raw_detections(astronaut, "full")
    assert len(before) >= 1
    monkeypatch.setattr(bf, "MIN_INPUT_SIDE", 0)  # let an empty crop reach MediaPipe, as a 1x1 photo's did
    with pytest.raises(ModelError, match="BlazeFace failed"):
        bf.raw_detections(np.zeros((1, 0, 3), np.uint8), "full")
    after = bf.raw_detections(astronaut, "full")
    np.testing.assert_allclose(after, before, atol=1e-3)
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(bf.raw_detections(astronaut, "full"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 3 and all(np.allclose(g, before, atol=1e-3) for g in got)


def test_tiny_crops_are_no_face_without_a_run():
    bf = pytest.importorskip("facelens.tools.blazeface")
    assert bf.raw_detections(np.zeros((3, 400, 3), np.uint8), "short").shape == (0, 5)


@pytest.mark.parametrize("size", [(1, 1), (4000, 1)])
def test_cli_refuses_bad_shapes_with_exit_2(tmp_path, size, capsys):
    from facelens.agent.cli import main

    path = tmp_path / "bad.png"
    path.write_bytes(_png(size))
    assert main(["analyze", str(path), "--json"]) == 2
    err = capsys.readouterr().err
    assert f"{size[0]}x{size[1]}" in err and "Traceback" not in err


# --- 9. no network from onnxruntime in offline mode ---------------------------------------------------------

_NO_NETWORK = textwrap.dedent("""
    import socket, sys
    tried = []
    def refuse(*a, **k):
        tried.append(a[:2] if len(a) > 1 else a)
        raise OSError("network disabled by the test")
    socket.getaddrinfo = refuse
    socket.gethostbyname = refuse
    socket.create_connection = refuse
    _connect = socket.socket.connect
    def connect(self, addr):
        if self.family == socket.AF_UNIX:
            return _connect(self, addr)
        refuse(addr)
    socket.socket.connect = connect
    from facelens.agent.cli import main
    rc = main(sys.argv[1:])
    print("NETWORK:", tried, file=sys.stderr)
    sys.exit(rc)
""")


def _offline(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run a CLI command offline with Python's sockets refused; under strace (where installed) every
    connect() of the process tree, native libraries included, is recorded too."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FACELENS_", "ORT_"))}
    env.update(
        FACELENS_HOME=str(tmp_path / "home"),
        FACELENS_BACKEND="offline",
        TMPDIR=str(tmpdir),
        HOME=str(tmp_path / "user"),
        XDG_CACHE_HOME=str(tmp_path / "user" / ".cache"),
        HF_HUB_OFFLINE="1",
    )
    cmd = [sys.executable, "-c", _NO_NETWORK, *args]
    trace = tmp_path / "connect.strace"
    strace = shutil.which("strace")
    if strace:
        cmd = [strace, "-f", "-qq", "-e", "trace=connect", "-o", str(trace), *cmd]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path
    )  # cwd: no source tree on sys.path
    native = (
        [
            line
            for line in trace.read_text().splitlines()
            if "connect(" in line and "AF_UNIX" not in line and "AF_LOCAL" not in line
        ]
        if strace and trace.exists()
        else []
    )
    return out, native


def test_offline_commands_touch_no_network_and_leave_no_telemetry_files(tmp_path, group_jpg, speech_wav):
    """doctor, an analysis, transcribe --affect and session ingest: no DNS lookup or connection from Python
    or from native code (onnxruntime's telemetry looked up mobile.events.data.microsoft.com), no .ses file."""
    for args in (
        ["doctor"],
        ["analyze", str(group_jpg[0]), "--json"],
        ["transcribe", str(speech_wav), "--affect"],
        ["session", "ingest", str(speech_wav), "--json"],
    ):
        out, native = _offline(tmp_path, *args)
        assert out.returncode in (0, 1) if args == ["doctor"] else out.returncode == 0, (args, out.stderr[-2000:])
        assert "NETWORK: []" in out.stderr, (args, out.stderr[-2000:])
        assert native == [], (args, native)
    left = [p.name for p in (tmp_path / "tmpdir").rglob("*")]
    assert not [n for n in left if n.endswith(".ses")], left
    assert not (tmp_path / "user" / ".cache" / "Microsoft").exists()


def test_onnxruntime_telemetry_is_off_before_any_session(monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    from facelens.tools import models, onnx_runtime

    calls = []
    monkeypatch.setattr(ort, "disable_telemetry_events", lambda: calls.append(1), raising=False)
    onnx_runtime._telemetry_off.cache_clear()
    assert models.onnxruntime() is ort and calls == [1]
    models.onnxruntime()
    assert calls == [1]  # once per process


@pytest.fixture
def speech_wav(tmp_path) -> Path:
    from facelens.eval import media as sample_media

    return sample_media.write_audio(
        tmp_path / "speech.wav", sample_media.speak("The meeting moved to Tuesday. I am happy about that.")
    )


# --- audio streamed in chunks -----------------------------------------------------------------------------


def _write_flac(path: Path, audio: np.ndarray) -> Path:
    from facelens.eval import media as sample_media

    return sample_media.write_audio(path, audio)


def test_iter_audio_chunks_cover_the_file_and_cut_in_quiet(tmp_path):
    rate = 16_000
    t = np.arange(rate * 95) / rate
    tone = 0.5 * np.sin(2 * np.pi * 220 * t)
    tone[(t % 7) < 0.4] = 0.0  # a short pause every 7 s
    path = _write_flac(tmp_path / "tone.flac", tone.astype(np.float32))
    whole = media.load_audio(path)
    chunks = list(media.iter_audio(path, chunk_seconds=30))
    assert 3 <= len(chunks) <= 4
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), whole)
    for a, b in zip(chunks, chunks[1:]):
        assert abs(a.end - b.start) < 1e-6
        assert (b.start % 7) < 0.4  # each cut falls in a pause, not in the tone
    assert chunks[1].between(chunks[1].start + 1, chunks[1].start + 2).size == rate


def test_a_long_file_is_transcribed_in_chunks_on_the_files_clock(tmp_path, monkeypatch):
    from facelens.eval import media as sample_media
    from facelens.tools.speech import Transcriber

    audio = sample_media.speak("The meeting moved to Tuesday.")
    rate = media.SAMPLE_RATE
    path = _write_flac(tmp_path / "two.flac", np.concatenate([audio, np.zeros(rate * 20, np.float32), audio]))
    tr = Transcriber()
    whole = tr.transcribe(audio)
    real = media.iter_audio
    monkeypatch.setattr(
        media, "iter_audio", lambda p, sample_rate=rate, chunk_seconds=15.0: real(p, sample_rate, chunk_seconds)
    )
    parts = list(tr.transcribe_chunks(path))
    streamed = tr.transcribe(path)
    assert len(parts) >= 2 and parts[1][0].start > 10
    assert "tuesday" in whole.text.lower() and streamed.text.lower().count("tuesday") == 2, (streamed.text, whole.text)
    second = [s for s in streamed.segments if s.start > 10]
    offset = audio.size / rate + 20
    assert second and abs(second[0].start - (offset + whole.segments[0].start)) < 1.0
    assert abs(streamed.duration - (2 * audio.size / rate + 20)) < 0.1


def _peak_ingest_mb(path: Path, home: Path) -> float:
    code = textwrap.dedent(f"""
        import resource, sys
        from facelens.agent.cli import main
        rc = main(["session", "ingest", {str(path)!r}, "--json"])
        print("PEAK_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, file=sys.stderr)
        sys.exit(rc)
    """)
    env = {**os.environ, "FACELENS_HOME": str(home), "FACELENS_BACKEND": "offline"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stderr.rsplit("PEAK_MB", 1)[1].split()[0])


@pytest.mark.slow
def test_ingest_memory_does_not_grow_with_duration(tmp_path):
    """A 1-hour silent FLAC ingests in about the memory of a 10-minute one (before: +~1 GB per hour)."""
    rate = 16_000
    short = _write_flac(tmp_path / "short.flac", np.zeros(rate * 600, np.float32))
    long = _write_flac(tmp_path / "long.flac", np.zeros(rate * 3600, np.float32))
    small = _peak_ingest_mb(short, tmp_path / "h1")
    big = _peak_ingest_mb(long, tmp_path / "h2")
    assert big < small + 150, (small, big)
