"""``facelens bench serve --hostile``: what unauthenticated slow, huge and malformed requests cost a real server.

For ``seconds`` it runs, against one ``facelens serve`` on 127.0.0.1, each in its own threads:

- slow heads: ``slow`` connections that send a request head one byte every half second, reconnecting
  when the server closes them (a slowloris);
- huge heads: ``huge`` connections that each try to send a 200 MB header that never ends;
- huge bodies: ``huge`` uploads to ``/v1/sessions`` without a key that declare 2 GB and stream zeros;
- malformed requests: garbage, a bad request line, a bad Content-Length, a broken multipart body;
- one authenticated client that analyses a photo again and again (the users who must still be served).

Meanwhile it samples the server's resident memory (``/proc/PID/status``) and the bytes it holds in
temporary files (``/proc/PID/fd``). Counts and time are bounded; everything stays on loopback.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlparse

#: the server must stay under this resident size (bytes) for the load to pass
MEMORY_BOUND = 1 << 30


@dataclass(frozen=True)
class HostileLoadResult:
    """What the load did and what it cost the server."""

    seconds: float  # how long the load ran
    start_rss_mb: float  # the server's resident memory before the load
    peak_rss_mb: float  # the most it reached (sampled every 0.2 s and the kernel's high-water mark)
    spooled_bytes: int  # the most bytes the server held in temporary files at once
    slow_connections: int  # slow-head connections opened
    huge_heads: int  # huge-head attempts
    huge_head_bytes_max: (
        int  # the most bytes of one huge head sent before the server closed the connection (kernel buffers included)
    )
    huge_bodies: int  # unauthenticated huge uploads attempted
    unauthenticated_answered_401: int  # of those, answered 401
    huge_body_bytes_max: int  # the most bytes of one huge upload sent before the answer came
    malformed: int  # malformed requests sent
    malformed_answered_4xx: int  # of those, refused: answered with anything but a 2xx, or closed
    keyed_sent: int  # authenticated analyze requests sent
    keyed_ok: int  # of those, answered 200
    keyed_p95_ms: float  # their latency

    @property
    def passed(self) -> bool:
        return self.peak_rss_mb * 2**20 < MEMORY_BOUND and self.keyed_sent > 0 and self.keyed_ok == self.keyed_sent

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def _rss(pid: int, field: str = "VmRSS") -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _temp_bytes(pid: int) -> int:
    """Bytes of request data the process holds in files: unlinked temporary files under a temporary folder
    (where request bodies are spooled) and uploads under ``facelens-serve-*`` (not its log, not its stores)."""
    total = 0
    roots = tuple({"/tmp", "/var/tmp", os.environ.get("TMPDIR", "/tmp")})
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(roots) and (target.endswith(" (deleted)") or "/facelens-serve-" in target):
                st = os.stat(f"/proc/{pid}/fd/{fd}")
                if (st.st_mode & 0o170000) == 0o100000:
                    total += st.st_size
        except OSError:
            continue
    return total


def _send_until_closed(
    host: str,
    port: int,
    head: bytes,
    chunk: bytes,
    total: int,
    pace: float = 0.0,
    stop: threading.Event | None = None,
    answer_first: float = 0.0,
) -> tuple[int, bytes]:
    """Send ``head`` then ``chunk`` repeatedly up to ``total`` bytes, until the server answers or closes;
    returns (bytes sent, the first bytes of its answer)."""
    sent, answer = 0, b""
    try:
        s = socket.create_connection((host, port), timeout=10)
    except OSError:
        return 0, b""
    with s:
        try:
            s.sendall(head)
            sent = len(head)
            if answer_first:  # a refusal comes before the body (read it before the server's close resets the line)
                s.settimeout(answer_first)
                try:
                    answer = s.recv(4096)
                except TimeoutError:
                    pass
            s.setblocking(False)
            while not answer and sent < total and not (stop and stop.is_set()):
                try:
                    answer = s.recv(4096)
                    break  # an answer, or b"": closed
                except BlockingIOError:
                    pass
                try:
                    sent += s.send(chunk)
                except BlockingIOError:
                    time.sleep(0.01)
                if pace:
                    time.sleep(pace)
            if not answer:
                s.settimeout(5)
                answer = s.recv(4096)
        except OSError:  # reset or broken pipe: the server dropped us
            pass
    return sent, answer


def hostile_load(
    url: str,
    token: str,
    photo: bytes,
    *,
    pid: int,
    seconds: float = 30.0,
    slow: int = 40,
    huge: int = 3,
    malformed_threads: int = 2,
) -> HostileLoadResult:
    """Run the load against a server already up at ``url`` (process ``pid``); see the module docstring."""
    import httpx

    u = urlparse(url)
    host, port = u.hostname or "127.0.0.1", int(u.port or 80)
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the hostile load runs against a loopback server only")
    with httpx.Client(timeout=300) as c:  # warm-up: every model loaded before the load starts
        c.post(
            f"{url}/v1/analyze",
            files={"file": ("warm.jpg", photo, "image/jpeg")},
            headers={"Authorization": f"Bearer {token}"},
        )
    stop = threading.Event()
    lock = threading.Lock()
    counts = {
        "slow": 0,
        "huge_heads": 0,
        "huge_head_max": 0,
        "huge_bodies": 0,
        "h401": 0,
        "huge_body_max": 0,
        "malformed": 0,
        "m4xx": 0,
        "keyed": 0,
        "keyed_ok": 0,
    }
    latencies: list[float] = []
    peak = {"rss": _rss(pid), "temp": 0}
    start_rss = peak["rss"]

    def bump(key: str, value: int = 1, most: bool = False) -> None:
        with lock:
            counts[key] = max(counts[key], value) if most else counts[key] + value

    def sampler() -> None:
        while not stop.is_set():
            peak["rss"] = max(peak["rss"], _rss(pid))
            peak["temp"] = max(peak["temp"], _temp_bytes(pid))
            time.sleep(0.2)

    def slow_head() -> None:
        head = b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nX-Slow: "
        while not stop.is_set():
            bump("slow")
            _send_until_closed(host, port, head, b"a", total=10_000, pace=0.5, stop=stop)

    def huge_head() -> None:
        while not stop.is_set():
            bump("huge_heads")
            sent, _ = _send_until_closed(
                host,
                port,
                b"GET /v1/gallery HTTP/1.1\r\nHost: x\r\nX-Big: ",
                b"a" * (1 << 20),
                total=200 << 20,
                stop=stop,
            )
            bump("huge_head_max", sent, most=True)

    def huge_body() -> None:
        head = (
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
            b'Content-Length: 2000000000\r\n\r\n--zz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\n"
        )
        while not stop.is_set():
            bump("huge_bodies")
            sent, answer = _send_until_closed(
                host, port, head, b"\0" * (1 << 20), total=2_000_000_000, stop=stop, answer_first=2.0
            )
            bump("huge_body_max", sent, most=True)
            if answer.startswith(b"HTTP/1.1 401"):
                bump("h401")

    bad = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS hello on a plain port
        b"GET /v1/health HTTP/9.9\r\n\r\n",
        b"FOO BAR BAZ QUX\r\n\r\n",
        b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=q\r\nContent-Length: 30\r\n\r\n--q\r\nbroken\r\n\r\n\r\n\r\n\r\n\r\n",
        b"GET /v1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /v1/gallery HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer flk_zz_" + b"x" * 5000 + b"\r\n\r\n",
    ]

    def malformed() -> None:
        i = 0
        while not stop.is_set():
            bump("malformed")
            try:
                with socket.create_connection((host, port), timeout=10) as s:
                    s.sendall(bad[i % len(bad)])
                    answer = s.recv(64)
                if not answer.startswith(b"HTTP/1.1 2"):
                    bump("m4xx")
            except OSError:
                bump("m4xx")  # closed on us: refused, nothing kept
            i += 1
            time.sleep(0.05)

    def keyed() -> None:
        with httpx.Client(timeout=120) as c:
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    code = c.post(
                        f"{url}/v1/analyze",
                        files={"file": ("p.jpg", photo, "image/jpeg")},
                        headers={"Authorization": f"Bearer {token}"},
                    ).status_code
                except httpx.HTTPError:
                    code = 0
                bump("keyed")
                bump("keyed_ok", int(code == 200))
                with lock:
                    latencies.append(time.perf_counter() - t)
                time.sleep(0.5)

    threads = [threading.Thread(target=sampler, daemon=True)]
    threads += [threading.Thread(target=slow_head, daemon=True) for _ in range(slow)]
    threads += [threading.Thread(target=huge_head, daemon=True) for _ in range(huge)]
    threads += [threading.Thread(target=huge_body, daemon=True) for _ in range(huge)]
    threads += [threading.Thread(target=malformed, daemon=True) for _ in range(malformed_threads)]
    threads += [threading.Thread(target=keyed, daemon=True)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(150)
    wall = time.monotonic() - t0
    peak["rss"] = max(peak["rss"], _rss(pid, "VmHWM"))  # the kernel's high-water mark catches what sampling missed
    lat = sorted(latencies)
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1000 if lat else 0.0
    return HostileLoadResult(
        seconds=round(wall, 1),
        start_rss_mb=round(start_rss / 2**20, 1),
        peak_rss_mb=round(peak["rss"] / 2**20, 1),
        spooled_bytes=int(peak["temp"]),
        slow_connections=counts["slow"],
        huge_heads=counts["huge_heads"],
        huge_head_bytes_max=counts["huge_head_max"],
        huge_bodies=counts["huge_bodies"],
        unauthenticated_answered_401=counts["h401"],
        huge_body_bytes_max=counts["huge_body_max"],
        malformed=counts["malformed"],
        malformed_answered_4xx=counts["m4xx"],
        keyed_sent=counts["keyed"],
        keyed_ok=counts["keyed_ok"],
        keyed_p95_ms=round(p95, 1),
    )


def run(seconds: float = 30.0, slow: int = 40, huge: int = 3) -> HostileLoadResult:
    """Start ``facelens serve`` (private FACELENS_HOME, a reader key, loopback) and run :func:`hostile_load` on it."""
    import tempfile
    from pathlib import Path

    from facelens.agent.service.bench import sample_photos, serving
    from facelens.agent.service.keys import KeyStore

    photo = sample_photos(1)[0]
    with tempfile.TemporaryDirectory(prefix="facelens-bench-hostile-") as tmp:
        home = Path(tmp)
        _, token = KeyStore(home / "apikeys.json").create("bench", "reader")
        # the server's log goes to a file: a pipe nobody reads during the load would fill and stall it
        with open(home / "serve.log", "w") as log_file, serving(home, log=log_file) as (url, proc):
            return hostile_load(url, token, photo, pid=proc.pid, seconds=seconds, slow=slow, huge=huge)
