"""``facelens bench serve``: a bounded load against a real local server.

It starts ``facelens serve`` on a free loopback port with a private FACELENS_HOME (the user's gallery
is never touched) and an editor key, then sends ``requests`` analyze requests from ``threads``
threads while one more thread enrols ``enrolments`` people, one request each. Each analyze request
sends a different photo (the example group photo with its own JPEG comment), so every request is real
work, not a cache hit. It reports latency p50/p95, throughput, errors (anything but 200), 429s, and
lost writes: enrolled names missing from the gallery afterwards.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from facelens.tools import settings
from facelens.tools.errors import DependencyError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _jpeg(rgb: np.ndarray, comment: str = "") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90, comment=comment.encode())
    return buf.getvalue()


def sample_photos(n: int) -> list[bytes]:
    """``n`` JPEGs of the example group photo (1280x720, 4 faces): the same pixels, each with its own
    JPEG comment, so each has its own content hash and no request is a cache hit."""
    from facelens.tools.images import load_image
    from facelens.tools.models import package_data_path

    rgb = load_image(package_data_path("examples", "group.jpg")).rgb
    return [_jpeg(rgb, f"facelens bench serve {i}") for i in range(n)]


def _start_server(home: Path, port: int, workers: int | None, log: Any = None) -> subprocess.Popen:
    """``facelens serve`` on ``port``; its stderr goes to ``log`` (a file) or a pipe."""
    env = dict(os.environ, FACELENS_HOME=str(home))
    if workers:
        env["FACELENS_SERVE_WORKERS"] = str(workers)
    return subprocess.Popen(
        [sys.executable, "-m", "facelens.agent.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.PIPE,
        text=True,
    )


def _wait_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise DependencyError(
                f"facelens serve exited at start: {(proc.stderr.read() if proc.stderr else '')[-400:]}"
            )
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise DependencyError("facelens serve did not answer /v1/health within a minute.")


@contextmanager
def serving(home: Path, workers: int | None = None, log: Any = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A ``facelens serve`` with FACELENS_HOME ``home`` on a free loopback port, up and answering:
    yields its URL and process, and stops it on the way out (killed if it does not stop in 15 s).
    Its stderr goes to ``log`` (a file) or a pipe (read when it dies at start).

    Raises:
        DependencyError: the server exited at start or did not answer within a minute.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _start_server(home, port, workers, log=log)
    try:
        _wait_up(url, proc)
        yield url, proc
    finally:
        stop_process(proc, 15)


def stop_process(proc: subprocess.Popen, grace_s: float) -> None:
    """Ask a server process to stop (SIGTERM); kill it if it has not exited within ``grace_s`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()


def run(requests: int = 200, threads: int = 8, enrolments: int = 10, workers: int | None = None) -> dict:
    """Run the load; returns the figures (see the module docstring)."""
    import httpx

    from facelens.agent.service.keys import KeyStore
    from facelens.eval import scenes as samples

    photos = sample_photos(requests + 1)
    faces = [_jpeg(samples.head("astronaut")), _jpeg(samples.head("hopper"))]
    with tempfile.TemporaryDirectory(prefix="facelens-bench-serve-") as tmp:
        home = Path(tmp)
        _, token = KeyStore(home / "apikeys.json").create("bench", "editor")
        headers = {"Authorization": f"Bearer {token}"}
        with serving(home, workers) as (url, _):
            with httpx.Client(timeout=300) as c:  # warm-up: loads every model once, not counted
                c.post(
                    f"{url}/v1/analyze", files={"file": ("warm.jpg", photos[-1], "image/jpeg")}, headers=headers
                ).raise_for_status()
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            lock = threading.Lock()
            next_i = iter(range(requests))

            def analyze_worker() -> None:
                with httpx.Client(timeout=300) as c:
                    while True:
                        with lock:
                            i = next(next_i, None)
                        if i is None:
                            return
                        t = time.perf_counter()
                        try:
                            code = c.post(
                                f"{url}/v1/analyze",
                                files={"file": (f"p{i}.jpg", photos[i], "image/jpeg")},
                                headers=headers,
                            ).status_code
                        except httpx.HTTPError:
                            code = 0
                        with lock:
                            latencies.append(time.perf_counter() - t)
                            statuses[code] = statuses.get(code, 0) + 1

            names = [f"Bench Person {i + 1:02d}" for i in range(enrolments)]
            enrol_codes: list[int] = []

            def enrol_worker() -> None:
                with httpx.Client(timeout=300) as c:
                    for i, name in enumerate(names):
                        r = c.post(
                            f"{url}/v1/gallery/{name}",
                            files={"files": (f"f{i}.jpg", faces[i % 2], "image/jpeg")},
                            headers=headers,
                        )
                        enrol_codes.append(r.status_code)

            pool = [threading.Thread(target=analyze_worker) for _ in range(threads)] + [
                threading.Thread(target=enrol_worker)
            ]
            t0 = time.perf_counter()
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            wall = time.perf_counter() - t0
            with httpx.Client(timeout=60) as c:
                enrolled = {p["name"] for p in c.get(f"{url}/v1/gallery", headers=headers).json()}
    lat_ms = np.asarray(latencies) * 1000
    ok = statuses.get(200, 0)
    return {
        "requests": requests,
        "threads": threads,
        "server_workers": workers or int(settings.value("serve_workers")),
        "latency_ms": {
            "p50": round(float(np.percentile(lat_ms, 50)), 1),
            "p95": round(float(np.percentile(lat_ms, 95)), 1),
        },
        "throughput_rps": round(ok / wall, 2),
        "wall_s": round(wall, 1),
        "errors": requests - ok,
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "enrolments": enrolments,
        "enrol_errors": sum(1 for c in enrol_codes if c != 200),
        "lost_writes": sum(1 for n in names if n not in enrolled),
    }
