"""``facelens serve``: every route and error through FastAPI's TestClient (one app for the module),
API keys and roles, the limits (413, 415, 422, 429, 504), server-sent events, a session upload's
job, and one real uvicorn server on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from facelens.agent.cli import main  # noqa: E402
from facelens.agent.service import routes_photo  # noqa: E402
from facelens.agent.service.app import create_app  # noqa: E402
from facelens.agent.service.jobs import JobRunner  # noqa: E402
from facelens.agent.service.keys import KeyStore  # noqa: E402
from facelens.agent.service.limits import Limits  # noqa: E402
from tests.conftest import jpeg_bytes  # noqa: E402


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """One app and client for the module; keys of each role in a store of their own (each test still
    gets an empty FACELENS_HOME for the gallery, caches and sessions)."""
    store = KeyStore(tmp_path_factory.mktemp("keys") / "apikeys.json")
    tokens = {role: store.create(role, role)[1] for role in ("reader", "editor", "admin")}
    app = create_app(limits=Limits(workers=2, queue=4, timeout_s=60, jobs=2), keys=store)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.tokens = tokens  # type: ignore[attr-defined]
        client.store = store  # type: ignore[attr-defined]
        yield client


def auth(api, role: str = "reader") -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def upload(data: bytes, name: str = "photo.jpg", ctype: str = "image/jpeg") -> dict:
    return {"file": (name, data, ctype)}


@pytest.fixture(scope="module")
def group_bytes() -> bytes:
    from facelens.eval import scenes as samples

    return jpeg_bytes(samples.example_scene()[0])


def test_health_needs_no_key(api):
    r = api.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["version"]
    assert api.get("/docs").status_code == 200 and "/v1/analyze" in api.get("/openapi.json").json()["paths"]


def test_keys_and_roles(api, group_bytes):
    r = api.get("/v1/gallery")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and r.json()["error"] == "unauthorized"
    assert "apikey create" in r.json()["hint"]
    for header in ("Bearer flk_000000000000_nope", "Bearer nonsense", "Basic abc", "Bearer "):
        assert api.get("/v1/gallery", headers={"Authorization": header}).status_code == 401, header
    assert api.get("/v1/gallery", headers=auth(api)).json() == []
    r = api.post(
        "/v1/gallery/Alice", files={"files": ("a.jpg", group_bytes, "image/jpeg")}, headers=auth(api, "reader")
    )
    assert r.status_code == 403 and "needs editor" in r.json()["message"]
    assert api.delete("/v1/gallery/Alice", headers=auth(api, "editor")).status_code == 403
    assert api.get("/v1/keys", headers=auth(api, "editor")).status_code == 403
    # admin: keys over the API; the key is shown once and a revoked one stops working at once
    r = api.post("/v1/keys", data={"name": "temp", "role": "reader"}, headers=auth(api, "admin"))
    assert r.status_code == 201 and r.json()["key"].startswith("flk_")
    temp = {"Authorization": f"Bearer {r.json()['key']}"}
    assert api.get("/v1/sessions", headers=temp).status_code == 200
    assert {k["name"] for k in api.get("/v1/keys", headers=auth(api, "admin")).json()} == {
        "reader",
        "editor",
        "admin",
        "temp",
    }
    assert "key" not in api.get("/v1/keys", headers=auth(api, "admin")).json()[0]
    assert api.post("/v1/keys", data={"name": "temp2", "role": "root"}, headers=auth(api, "admin")).status_code == 422
    assert api.delete("/v1/keys/temp", headers=auth(api, "admin")).status_code == 200
    assert api.get("/v1/sessions", headers=temp).status_code == 401
    assert api.delete("/v1/keys/temp", headers=auth(api, "admin")).status_code == 404


def test_apikey_cli_stores_only_a_hash(facelens_home, capsys):
    assert main(["apikey", "create", "ci-bot", "--role", "editor"]) == 0
    token = capsys.readouterr().out.strip()
    raw = (facelens_home / "apikeys.json").read_bytes()
    assert token.startswith("flk_") and token.split("_", 2)[2].encode() not in raw and b"ci-bot" in raw
    assert KeyStore().verify(token).role == "editor" and KeyStore().verify(token + "x") is None
    assert main(["apikey", "create", "ci-bot"]) == 2  # a taken name
    assert main(["apikey", "list", "--json"]) == 0
    assert [k["name"] for k in json.loads(capsys.readouterr().out)] == ["ci-bot"]
    assert main(["apikey", "revoke", "ci-bot"]) == 0 and KeyStore().verify(token) is None
    assert main(["apikey", "revoke", "ci-bot"]) == 2
    assert "No API key named" in capsys.readouterr().err


def _comparable(scene: dict) -> dict:
    scene = dict(scene, image=dict(scene["image"], source=None))
    return {k: v for k, v in scene.items() if k not in ("timings_ms", "cached")}


def test_analyze_is_the_cli_json(api, group_bytes, tmp_path, capsys):
    r = api.post("/v1/analyze", files=upload(group_bytes, "group.jpg"), headers=auth(api))
    assert r.status_code == 200 and len(r.json()["faces"]) == 4 and r.json()["image"]["source"] == "group.jpg"
    (tmp_path / "group.jpg").write_bytes(group_bytes)
    assert main(["analyze", str(tmp_path / "group.jpg"), "--json", "--no-cache"]) == 0
    assert _comparable(json.loads(capsys.readouterr().out)) == _comparable(r.json())


def test_ask_json_and_stream(api, group_bytes, tmp_path, capsys):
    question = "how many people are smiling?"
    r = api.post(
        "/v1/ask",
        files=upload(group_bytes, "g.jpg"),
        data={"question": question, "backend": "offline"},
        headers=auth(api),
    )
    assert r.status_code == 200 and r.json()["backend"] == "offline" and r.json()["answer"]
    (tmp_path / "g.jpg").write_bytes(group_bytes)
    assert main(["ask", str(tmp_path / "g.jpg"), question, "--json", "--backend", "offline"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["answer"] == r.json()["answer"] and cli["faces"] == r.json()["faces"]
    # server-sent events: the last event is the same answer
    with api.stream(
        "POST",
        "/v1/ask",
        files=upload(group_bytes),
        data={"question": question, "backend": "offline", "stream": "true"},
        headers=auth(api),
    ) as s:
        assert s.status_code == 200 and s.headers["content-type"].startswith("text/event-stream")
        text = "".join(s.iter_text())
    events = [
        (b.split("\n")[0].removeprefix("event: "), json.loads(b.split("\n")[1].removeprefix("data: ")))
        for b in text.strip().split("\n\n")
    ]
    assert events[-1][0] == "answer" and events[-1][1]["answer"] == cli["answer"]
    # an error inside the stream is an error event, not a traceback
    with api.stream(
        "POST", "/v1/ask", files=upload(group_bytes), data={"question": "x" * 5000, "stream": "true"}, headers=auth(api)
    ) as s:
        body = "".join(s.iter_text())
    assert body.startswith("event: error") and "limit" in body and "Traceback" not in body


def test_enrol_identify_list_remove(api, astronaut, hopper, group_bytes):
    r = api.post(
        "/v1/gallery/Alice",
        files=[("files", ("a.jpg", jpeg_bytes(astronaut), "image/jpeg"))],
        headers=auth(api, "editor"),
    )
    assert r.status_code == 200 and r.json()[0]["name"] == "Alice" and r.json()[0]["image"] == "a.jpg"
    assert [p["name"] for p in api.get("/v1/gallery", headers=auth(api)).json()] == ["Alice"]
    r = api.post("/v1/identify", files=upload(group_bytes, "group.jpg"), headers=auth(api))
    names = [f["identity"]["name"] if f["identity"]["known"] else None for f in r.json()["faces"]]
    assert r.json()["image"] == "group.jpg" and names == [None, "Alice", None, "Alice"]
    # no face / several faces: all or nothing, nothing written
    r = api.post(
        "/v1/gallery/Bob", files=[("files", ("g.jpg", group_bytes, "image/jpeg"))], headers=auth(api, "editor")
    )
    assert r.status_code == 422 and r.json()["error"] == "no_face"
    r = api.delete("/v1/gallery/alice", headers=auth(api, "admin"))
    assert r.status_code == 200 and r.json()["name"] == "Alice" and r.json()["embeddings"] == 1
    assert api.get("/v1/gallery", headers=auth(api)).json() == []
    r = api.delete("/v1/gallery/Alice", headers=auth(api, "admin"))
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_bad_uploads(api, monkeypatch, group_bytes):
    h = auth(api)
    r = api.post("/v1/analyze", files=upload(b""), headers=h)
    assert r.status_code == 422 and r.json()["error"] == "bad_image" and "empty" in r.json()["message"]
    r = api.post("/v1/analyze", files=upload(group_bytes[: len(group_bytes) // 3]), headers=h)
    assert r.status_code == 422 and "corrupt" in r.json()["message"]
    r = api.post("/v1/analyze", files=upload(b"hello", "notes.txt", "text/plain"), headers=h)
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    r = api.post("/v1/analyze", files=upload(b"hello", "notes.txt", "application/octet-stream"), headers=h)
    assert r.status_code == 422 and "not an image" in r.json()["message"]
    r = api.post("/v1/analyze", headers=h)
    assert r.status_code == 422 and r.json()["error"] == "bad_input" and "file" in r.json()["message"]
    r = api.post("/v1/analyze", files=upload(group_bytes), data={"detector": "nope"}, headers=h)
    assert r.status_code == 422 and "Unknown detector" in r.json()["message"]
    r = api.post("/v1/ask", files=upload(group_bytes), data={"question": "  "}, headers=h)
    assert r.status_code == 422 and "empty" in r.json()["message"]
    r = api.post("/v1/ask", files=upload(group_bytes), data={"question": "who?", "backend": "gpt9"}, headers=h)
    assert r.status_code == 422
    monkeypatch.setenv("FACELENS_MAX_IMAGE_BYTES", "10000")
    r = api.post("/v1/analyze", files=upload(group_bytes), headers=h)  # under the body limit, over the image limit
    assert r.status_code == 413 and "FACELENS_MAX_IMAGE_BYTES" in r.json()["hint"]
    r = api.post("/v1/analyze", files=upload(b"\xff" * (2 << 20)), headers=h)  # refused by Content-Length, unread
    assert r.status_code == 413 and r.json()["error"] == "too_large"


def test_unexpected_error_has_no_traceback(api, monkeypatch, group_bytes):
    def boom(*a):
        raise RuntimeError("/secret/path in a stack")

    monkeypatch.setattr(routes_photo, "_analyze", boom)
    r = api.post("/v1/analyze", files=upload(group_bytes), headers=auth(api))
    assert (
        r.status_code == 500
        and r.json()["error"] == "internal"
        and "/secret/path" not in r.text
        and "Traceback" not in r.text
    )


def test_cors_is_off(api):
    r = api.options("/v1/health", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in r.headers
    assert (
        "access-control-allow-origin" not in api.get("/v1/health", headers={"Origin": "https://evil.example"}).headers
    )


def test_bounded_queue_and_timeout(monkeypatch, tmp_path, group_bytes):
    """A burst beyond workers + queue gets 429 with Retry-After; a request past the timeout gets 504."""
    store = KeyStore(tmp_path / "k.json")
    token = store.create("r", "reader")[1]
    gate = threading.Event()
    monkeypatch.setattr(routes_photo, "_analyze", lambda *a: gate.wait(10) and {"ok": True})
    app = create_app(limits=Limits(workers=1, queue=1, timeout_s=3, jobs=1), keys=store)
    codes: list[int] = []
    with TestClient(app) as client:

        def call() -> None:
            codes.append(
                client.post(
                    "/v1/analyze", files=upload(group_bytes), headers={"Authorization": f"Bearer {token}"}
                ).status_code
            )

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        r = client.post("/v1/analyze", files=upload(group_bytes), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 429 and r.headers["retry-after"] == "2" and r.json()["error"] == "busy"
        gate.set()
        for t in threads:
            t.join()
        assert codes == [200, 200]
        gate.clear()
        r = client.post("/v1/analyze", files=upload(group_bytes), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 504 and r.json()["error"] == "timeout"
        gate.set()


def test_job_line_is_bounded(tmp_path):
    runner = JobRunner(max_waiting=1)
    gate = threading.Event()
    first = runner.submit("x", "a", lambda job: gate.wait(10) and {"a": 1}, tmp_path / "a")
    time.sleep(0.2)  # the first is running; one may wait; the third is refused
    assert runner.submit("x", "b", lambda job: {"b": 1}, tmp_path / "b") is not None
    assert runner.submit("x", "c", lambda job: {"c": 1}, tmp_path / "c") is None
    gate.set()
    assert runner.wait_idle(10) and runner.get(first.id).to_dict()["result"] == {"a": 1}


def test_session_upload_job_and_reads(api, tmp_path, capsys):
    from facelens.eval import media as sample_media

    video = sample_media.make_video(
        tmp_path / "call.mp4", [sample_media.Shot(2.0, "astronaut")], None, size=(320, 240), fps=10, face_width=110
    )
    h = auth(api, "editor")
    assert (
        api.post(
            "/v1/sessions", files=upload(video.read_bytes(), "call.mp4", "video/mp4"), headers=auth(api)
        ).status_code
        == 403
    )
    r = api.post(
        "/v1/sessions", files=upload(video.read_bytes(), "call.mp4", "video/mp4"), data={"id": "call-1"}, headers=h
    )
    assert r.status_code == 202 and set(r.json()) == {"job"}
    job = r.json()["job"]
    for _ in range(600):
        status = api.get(f"/v1/jobs/{job}", headers=auth(api)).json()
        if status["status"] in ("done", "failed"):
            break
        assert status["status"] in ("queued", "running") and 0 <= status["progress"] <= 1
        time.sleep(0.1)
    assert status["status"] == "done" and status["progress"] == 1.0 and status["error"] is None
    assert status["result"]["session_id"] == "call-1" and len(status["result"]["people"]) == 1
    listed = api.get("/v1/sessions", headers=auth(api)).json()
    assert [s["session_id"] for s in listed] == ["call-1"] and listed[0]["source"] == "call.mp4"  # not the temp path
    shown = api.get("/v1/sessions/call-1", headers=auth(api)).json()
    assert main(["session", "show", "call-1", "--json"]) == 0 and json.loads(capsys.readouterr().out) == shown
    r = api.get("/v1/sessions/call-1/export?format=csv", headers=auth(api))
    assert (
        r.status_code == 200
        and r.headers["content-type"].startswith("text/csv")
        and r.text.startswith("kind,start,end")
    )
    assert "seconds" in api.get("/v1/sessions/call-1/export", headers=auth(api)).json()
    assert api.get("/v1/sessions/call-1/export?format=xml", headers=auth(api)).status_code == 422
    r = api.post(
        "/v1/sessions/ask",
        data={"question": "summarise this session", "session": "call-1", "backend": "offline"},
        headers=auth(api),
    )
    assert r.status_code == 200 and r.json()["backend"] == "offline" and r.json()["answer"]
    # unknowns, a taken id (failed job), bad recordings, a wrong type
    assert api.get("/v1/sessions/nope", headers=auth(api)).status_code == 404
    assert api.get("/v1/sessions/nope/export", headers=auth(api)).status_code == 404
    assert (
        api.post(
            "/v1/sessions/ask", data={"question": "overall mood?", "session": "nope"}, headers=auth(api)
        ).status_code
        == 404
    )
    assert api.get("/v1/jobs/nope", headers=auth(api)).status_code == 404
    r = api.post(
        "/v1/sessions", files=upload(video.read_bytes(), "call.mp4", "video/mp4"), data={"id": "call-1"}, headers=h
    )
    assert api.app.state.jobs.wait_idle(60)
    failed = api.get(f"/v1/jobs/{r.json()['job']}", headers=auth(api)).json()
    assert failed["status"] == "failed" and "already exists" in failed["error"]["message"]
    r = api.post("/v1/sessions", files=upload(b"", "e.mp4", "video/mp4"), headers=h)
    assert r.status_code == 422 and r.json()["error"] == "bad_media"
    r = api.post(
        "/v1/sessions", files=upload(b"\x1a\x45\xdf\xa3" + b"\x00junk" * 50, "j.mkv", "video/x-matroska"), headers=h
    )
    assert r.status_code == 422
    assert api.post("/v1/sessions", files=upload(b"x", "a.jpg", "image/jpeg"), headers=h).status_code == 415
    assert (
        api.post(
            "/v1/sessions", files=upload(video.read_bytes(), "c.mp4", "video/mp4"), data={"id": "../x"}, headers=h
        ).status_code
        == 422
    )


def test_keys_required_on_loopback_too_and_new_keys_work_at_once(tmp_path):
    store = KeyStore(tmp_path / "k.json")
    with TestClient(create_app(keys=store)) as client:
        assert client.get("/v1/gallery").status_code == 401  # no key exists: still 401
        token = store.create("first", "admin")[1]
        assert client.get("/v1/gallery", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server_on_loopback(facelens_home, group_bytes, capsys):
    import httpx

    assert main(["serve", "--host", "0.0.0.0", "--port", "8123"]) == 2  # no key yet: refused
    assert "apikey create" in capsys.readouterr().err
    assert main(["apikey", "create", "me", "--role", "reader"]) == 0
    token = capsys.readouterr().out.strip()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
        assert "Cannot listen" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
    port = _free_port()
    env = dict(os.environ, FACELENS_HOME=str(facelens_home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "facelens.agent.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{url}/v1/gallery", timeout=5).status_code == 401
        r = httpx.post(
            f"{url}/v1/analyze", files=upload(group_bytes), headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        assert r.status_code == 200 and len(r.json()["faces"]) == 4
    finally:
        proc.terminate()
        proc.wait(10)
    assert "docs at /docs" in proc.stderr.read()


def test_detection_is_safe_across_threads(astronaut, hopper):
    """Two requests at once run the detectors in two threads: dlib's HOG scanner is per thread
    (one shared instance corrupted the heap and killed the server)."""
    from facelens.tools import faces, models

    seen: list = []
    errors: list = []

    def work(rgb) -> None:
        try:
            seen.append(models.hog_detector())
            for _ in range(3):
                assert len(faces.detect_faces(rgb, faces.DEFAULT_DETECTOR)) == 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(img,)) for img in (astronaut, hopper, astronaut)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len({id(d) for d in seen}) == 3 and models.hog_detector() is models.hog_detector()


def test_bench_serve_small(facelens_home, capsys):
    assert main(["bench", "serve", "--requests", "6", "--threads", "2", "--enrolments", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["errors"] == 0 and out["lost_writes"] == 0 and out["enrol_errors"] == 0 and out["latency_ms"]["p95"] > 0
    assert not (facelens_home / "gallery").exists()  # the bench used a private home
