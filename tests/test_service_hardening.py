"""``facelens serve`` against hostile clients (issue 25): the key is checked before the body is read,
request heads are bounded in size and time, secrets never reach the log, uploads of a killed server
are swept, a bad image never poisons the detectors for later requests, and a load of slow, huge and
malformed unauthenticated requests leaves the server small and answering its users.

The servers here are real uvicorn servers on 127.0.0.1 (in a thread, or ``facelens serve`` itself)."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from facelens.agent.service import server as srv  # noqa: E402
from facelens.agent.service import uploads  # noqa: E402
from facelens.agent.service.app import create_app  # noqa: E402
from facelens.agent.service.keys import KeyStore  # noqa: E402
from facelens.agent.service.limits import Limits  # noqa: E402
from tests.conftest import jpeg_bytes  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """A real uvicorn server (facelens's configuration) in a thread of this process."""

    def __init__(self, app, verbose: bool = False) -> None:
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(srv.config(app, "127.0.0.1", self.port, queue_bound=8, verbose=verbose))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def keyed(tmp_path) -> tuple[KeyStore, dict[str, str]]:
    store = KeyStore(tmp_path / "apikeys.json")
    return store, {role: store.create(role, role)[1] for role in ("reader", "editor", "admin")}


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (120, 120, 120)).save(buf, format="PNG")
    return buf.getvalue()


def _raw(port: int, head: bytes, body: bytes = b"", wait: float = 5.0) -> bytes:
    """Send a raw request (maybe incomplete) and return what the server answers within ``wait`` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(head + body)
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except TimeoutError:
            pass
        except ConnectionResetError:
            pass
        return got


# --- 5. the key before the body ---------------------------------------------------------------------


def test_no_key_is_refused_before_the_body_is_read(keyed):
    """A declared 300 MB upload with no key is answered 401 while its body has not come (before: the
    server waited for, and spooled, the whole body first); a reader's key gets its 403 the same way."""
    store, tokens = keyed
    with LiveServer(create_app(keys=store)) as live:
        head = (
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 300000000\r\n\r\n"
        )
        body = (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        )
        got = _raw(live.port, head, body, wait=5)
        assert got.startswith(b"HTTP/1.1 401"), got[:200]
        assert b"An API key is required" in got
        got = _raw(
            live.port,
            head.replace(b"Host: x", b"Host: x\r\nAuthorization: Bearer " + tokens["reader"].encode()),
            body,
            wait=5,
        )
        assert got.startswith(b"HTTP/1.1 403"), got[:200]


def test_the_gate_leaves_open_routes_and_keyed_requests_alone(keyed, group_bytes):
    store, tokens = keyed
    with TestClient(create_app(keys=store), raise_server_exceptions=False) as api:
        assert api.get("/v1/health").status_code == 200 and api.get("/openapi.json").status_code == 200
        assert api.get("/v1/nope").status_code == 404
        r = api.post("/v1/analyze", files={"file": ("g.jpg", group_bytes, "image/jpeg")})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        r = api.delete("/v1/gallery/Ann", headers={"Authorization": f"Bearer {tokens['editor']}"})
        assert r.status_code == 403 and "admin" in r.json()["message"]
        r = api.post(
            "/v1/analyze",
            files={"file": ("g.jpg", group_bytes, "image/jpeg")},
            headers={"Authorization": f"Bearer {tokens['reader']}"},
        )
        assert r.status_code == 200 and len(r.json()["faces"]) == 4


@pytest.fixture(scope="module")
def group_bytes() -> bytes:
    from facelens.eval import scenes as samples

    return jpeg_bytes(samples.example_scene()[0])


# --- 6. bounded request heads -----------------------------------------------------------------------


def test_an_oversized_head_is_cut_off(keyed):
    store, _ = keyed
    with LiveServer(create_app(keys=store)) as live:
        head = b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (4 * srv.MAX_HEAD_BYTES)  # never finished
        got = _raw(live.port, head, wait=5)
        assert got.startswith(b"HTTP/1.1 4"), got[:120]  # 400/431, and the connection closed
        assert httpx.get(f"{live.url}/v1/health").status_code == 200


def test_a_head_that_never_ends_is_closed_after_the_timeout(keyed, monkeypatch):
    monkeypatch.setattr(srv, "HEAD_TIMEOUT_S", 1.0)
    store, _ = keyed
    with LiveServer(create_app(keys=store)) as live:
        t0 = time.monotonic()
        got = _raw(
            live.port, b"GET /v1/health HTTP/1.1\r\nHost: x\r\n", wait=8
        )  # no blank line: the head is unfinished
        assert got == b"" and time.monotonic() - t0 < 5
        # a kept-alive connection gets the same deadline for its next head
        with socket.create_connection(("127.0.0.1", live.port), timeout=8) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            first = b""
            while not first.endswith(b"}"):  # the head and the JSON body may come in two packets
                first += s.recv(65536)
            assert first.startswith(b"HTTP/1.1 200")
            s.sendall(b"GET /v1/health HTTP/1.1\r\n")
            t0 = time.monotonic()
            assert s.recv(65536) == b"" and time.monotonic() - t0 < 5


# --- 15. no secrets in the log ------------------------------------------------------------------------


def test_redact():
    line = '127.0.0.1:5 - "GET /v1/gallery?key=flk_ab12_SECRETSECRET&x=1&api_key=zzz&token=t0k HTTP/1.1" 401'
    out = srv.redact(line)
    assert "SECRETSECRET" not in out and "zzz" not in out and "t0k" not in out
    assert "x=1" in out and "key=***" in out and "api_key=***" in out
    assert (
        srv.redact("GET /v1/gallery?flk_ab12_SECRETSECRET") == "GET /v1/gallery?flk_ab12_***"
    )  # a bare key keeps its public id
    assert srv.redact("Authorization: Bearer flk_1f_abc") == "Authorization: Bearer ***"
    assert srv.redact("GET /v1/health HTTP/1.1") == "GET /v1/health HTTP/1.1"


def _serve(home: Path, *, verbose: bool = False, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``facelens [-v] serve`` on a free loopback port; stdout and stderr go to one pipe."""
    port = _free_port()
    env = {**os.environ, "FACELENS_HOME": str(home), **(env_extra or {})}
    cmd = [sys.executable, "-m", "facelens.agent.cli", *(["-v"] if verbose else []), "serve", "--port", str(port)]
    log = open(home / "serve.log", "w+")  # a file, not a pipe: a pipe nobody reads fills up and stalls the server
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log = log  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(_stop(proc))


def _stop(proc: subprocess.Popen) -> str:
    """Stop the server; returns everything it wrote."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.seek(0)  # type: ignore[attr-defined]
    out = proc.log.read()  # type: ignore[attr-defined]
    proc.log.close()  # type: ignore[attr-defined]
    return out


def test_a_key_in_the_query_string_is_refused_and_not_logged(facelens_home):
    facelens_home.mkdir(parents=True, exist_ok=True)
    token = KeyStore(facelens_home / "apikeys.json").create("ann", "reader")[1]
    proc, url = _serve(facelens_home, verbose=True)
    try:
        assert httpx.get(f"{url}/v1/gallery?key={token}&api_key={token}").status_code == 401
        assert httpx.get(f"{url}/v1/gallery?x=1&{token}").status_code == 401  # a bare key, no name
        assert httpx.get(f"{url}/v1/gallery", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        log = _stop(proc)
    secret = token.split("_", 2)[2]
    assert "/v1/gallery" in log, log  # the access log is on (-v) ...
    assert secret not in log, log  # ... and holds no key


# --- 7. uploads of a killed server ---------------------------------------------------------------------


def test_uploads_live_in_one_folder_per_server(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(uploads, "_root", None)
    a, b = uploads.private_folder(), uploads.private_folder()
    assert a.parent == b.parent == uploads.process_folder()
    assert a.parent.name.startswith(f"facelens-serve-{os.getpid()}-")
    assert oct(a.stat().st_mode & 0o777) == "0o700"


def test_a_killed_servers_uploads_are_swept_at_the_next_start(tmp_path, monkeypatch):
    code = (  # noqa: UP031 - the test builds source code, with %r for the folder's repr
        "import os, signal, tempfile; tempfile.tempdir = %r\n"
        "from facelens.agent.service import uploads\n"
        "p = uploads.private_folder(); (p / '00-face.jpg').write_bytes(b'x' * 1000); print(p, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    ) % str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == -signal.SIGKILL
    left = Path(out.stdout.strip())
    assert left.is_dir() and (left / "00-face.jpg").exists()  # SIGKILL: no cleanup ran
    legacy = tmp_path / "facelens-serve-k3j4h5g6"  # a folder of the old naming (per request, no pid)
    legacy.mkdir()
    other = tmp_path / "unrelated"
    other.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr(uploads, "_root", None)
    create_app(keys=KeyStore(tmp_path / "keys.json"))  # a server starting
    assert not left.parent.exists() and not legacy.exists() and other.exists()
    mine = uploads.private_folder()
    assert uploads.remove_stale_uploads(tmp_path) == [] and mine.exists()  # a live server's folder is kept


# --- 1. a bad image never poisons the detectors ---------------------------------------------------------


def test_bad_images_and_concurrent_good_ones_through_the_service(keyed, group_bytes):
    store, tokens = keyed
    hdr = {"Authorization": f"Bearer {tokens['reader']}"}
    with TestClient(
        create_app(limits=Limits(workers=2, queue=8, timeout_s=120), keys=store), raise_server_exceptions=False
    ) as api:

        def post(data: bytes) -> httpx.Response:
            return api.post("/v1/analyze", files={"file": ("x.png", data, "image/png")}, headers=hdr)

        with ThreadPoolExecutor(4) as pool:
            futures = [
                pool.submit(post, d)
                for d in (_png((1, 1)), group_bytes, _png((4000, 1)), group_bytes, _png((2000, 50)))
            ]
            got = [f.result() for f in futures]
        assert [r.status_code for r in got] == [422, 200, 422, 200, 422], [r.text[:200] for r in got]
        assert got[0].json()["error"] == "bad_image" and "16 pixels" in got[0].json()["message"]
        assert "4000x1" in got[2].json()["message"] and "20 to 1" in got[4].json()["message"]
        assert [len(r.json()["faces"]) for r in (got[1], got[3])] == [4, 4]
        after = post(group_bytes)  # and afterwards, for everybody
        assert after.status_code == 200 and len(after.json()["faces"]) == 4


# --- done-when: a hostile load leaves the server small and answering -----------------------------------


@pytest.mark.slow
def test_hostile_load_leaves_the_server_small_and_answering(facelens_home, group_bytes):
    from facelens.agent.service.bench_hostile import hostile_load

    facelens_home.mkdir(parents=True, exist_ok=True)
    token = KeyStore(facelens_home / "apikeys.json").create("ann", "reader")[1]
    proc, url = _serve(facelens_home, env_extra={"FACELENS_SERVE_WORKERS": "2"})
    try:
        result = hostile_load(url, token, group_bytes, pid=proc.pid, seconds=20)
    finally:
        _stop(proc)
    assert result.peak_rss_mb < 1024, result
    assert result.keyed_ok == result.keyed_sent and result.keyed_sent >= 5, result
    assert result.unauthenticated_answered_401 > 0 and result.spooled_bytes == 0, result
