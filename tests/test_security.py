"""The web app is reachable only by its owner: loopback by default, a secret on the network, the host's
API key never sent to a server typed in the app, uploads deleted, no external-IP lookup."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from facelens.agent.cli import main  # noqa: E402
from facelens.agent.cli.ui import DEFAULT_ADDRESS, PASSWORD_ENV, is_loopback, server_environment, streamlit_command  # noqa: E402
from facelens.tools.errors import ConfigError  # noqa: E402
from facelens.ui.auth import AUTH_ENV, check_secret, hash_secret  # noqa: E402

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from facelens.ui.common import backend_for

    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FACELENS_LOCAL_MODEL", PASSWORD_ENV, AUTH_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FACELENS_BACKEND", "offline")
    yield
    backend_for.clear()  # backends cached under a test's environment must not answer the next test


# --- address and secret --------------------------------------------------------------------------


def test_default_address_is_loopback_and_streamlit_phones_nowhere() -> None:
    cmd = streamlit_command(8999)
    opt = {cmd[i]: cmd[i + 1] for i in range(5, len(cmd) - 1, 2)}
    assert DEFAULT_ADDRESS == "127.0.0.1" and opt["--server.address"] == "127.0.0.1"
    assert opt["--browser.gatherUsageStats"] == "false" and opt["--server.headless"] == "true"
    assert cmd[1:4] == ["-m", "facelens.ui.launch", "run"]  # the launcher that disables the external-IP lookup
    p = main.__globals__["build_parser"]()
    args = p.parse_args(["ui"])
    assert args.address == "127.0.0.1" and args.token is False


@pytest.mark.parametrize(
    "address,loop",
    [
        ("127.0.0.1", True),
        ("127.0.0.5", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("myhost.lan", False),
    ],
)
def test_loopback_addresses(address: str, loop: bool) -> None:
    assert is_loopback(address) is loop


def test_network_address_without_a_secret_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--address", "0.0.0.0", "--port", "8999"]) == 2
    err = capsys.readouterr().err
    assert "anyone on the network" in err and PASSWORD_ENV in err and "--token" in err


def test_short_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "short")
    with pytest.raises(ConfigError, match="too short"):
        server_environment("0.0.0.0")


def test_server_gets_a_hash_never_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "correct horse battery")
    env = server_environment("0.0.0.0")
    assert PASSWORD_ENV not in env and "correct horse battery" not in "".join(env.values())
    assert check_secret("correct horse battery", env[AUTH_ENV]) and not check_secret("wrong", env[AUTH_ENV])
    # on loopback no login is asked, and the password is still not passed on
    assert AUTH_ENV not in server_environment("127.0.0.1") and PASSWORD_ENV not in server_environment("127.0.0.1")
    # a token works on any address
    assert check_secret("tok-123", server_environment("127.0.0.1", token="tok-123")[AUTH_ENV])


def test_malformed_hash_never_matches() -> None:
    for stored in ("", "plain", "md5$1$00$00", "pbkdf2_sha256$x$zz$00"):
        assert not check_secret("anything", stored)
    h = hash_secret("s3cret-pass")
    assert h.startswith("pbkdf2_sha256$") and check_secret("s3cret-pass", h)


# --- the login page ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    """The login throttle's clock, moved by hand; the throttle starts empty and is emptied after."""
    from facelens.ui import auth

    fake = FakeClock()
    monkeypatch.setattr(auth, "_clock", fake)
    auth.THROTTLE.reset()
    yield fake
    auth.THROTTLE.reset()


def test_app_draws_nothing_before_the_right_secret(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    monkeypatch.setenv(AUTH_ENV, hash_secret("let-me-in-please", iterations=1000))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert not at.sidebar.radio and not at.chat_input  # no pages, no settings, no gallery
    at.text_input(key="login_secret").set_value("guess")
    at.button[0].click().run()
    assert at.error and "wrong" in at.error[0].value and not at.sidebar.radio
    clock.now += 3  # past the delay the wrong guess earned
    at.text_input(key="login_secret").set_value("let-me-in-please")
    at.button[0].click().run()
    assert not at.exception
    assert at.sidebar.radio(key="nav_page").value == "Photo"


def _guess(at: AppTest, secret: str) -> str:
    at.text_input(key="login_secret").set_value(secret)
    at.button[0].click().run()
    assert not at.exception
    return at.error[0].value if at.error else ""


def test_a_new_tab_per_guess_waits_as_long(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """The delay is per client address and global, not per browser session (issue 25, item 8)."""
    monkeypatch.setenv(AUTH_ENV, hash_secret("let-me-in-please", iterations=1000))
    tabs = [AppTest.from_file(APP, default_timeout=60) for _ in range(3)]
    for tab in tabs:
        tab.run()
    assert "wrong" in _guess(tabs[0], "guess-1")
    # a fresh tab (a new browser session, same address) must wait too, even with the right secret
    assert "Too many wrong guesses" in _guess(tabs[1], "let-me-in-please") and not tabs[1].sidebar.radio
    clock.now += 2.1
    assert "wrong" in _guess(tabs[1], "guess-2")
    clock.now += 2.1  # the second wrong guess doubled the wait
    assert "Too many wrong guesses" in _guess(tabs[2], "guess-3")
    clock.now += 2.0
    _guess(tabs[2], "let-me-in-please")
    assert tabs[2].sidebar.radio(key="nav_page").value == "Photo"


def test_login_throttle_per_address_and_global(clock: FakeClock) -> None:
    from facelens.ui.auth import LoginThrottle

    t = LoginThrottle()
    assert t.wait("10.0.0.1") == 0
    t.failed("10.0.0.1")
    assert t.wait("10.0.0.1") == pytest.approx(2.0) and t.wait("10.0.0.2") == pytest.approx(
        0.25
    )  # per address, and global
    for i in range(40):  # many addresses, one guess each
        t.failed(f"10.1.0.{i}")
    assert t.wait("10.9.9.9") == pytest.approx(LoginThrottle.GLOBAL_MAX_S)  # nobody guesses faster than the global rate
    clock.now += 61
    t.succeeded("10.0.0.1")
    assert t.wait("10.0.0.1") == 0


def test_no_login_on_loopback() -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception and at.sidebar.radio(key="nav_page").value == "Photo"


# --- the host's API key ----------------------------------------------------------------------------


def test_host_key_never_goes_to_a_url_typed_in_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """A visitor types their own server: it must not receive OPENAI_API_KEY from the host's environment."""
    from tests.test_agent_openai import FakeOpenAI

    monkeypatch.delenv("FACELENS_BACKEND")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    for backend in ("openai", "auto"):
        server = FakeOpenAI([("text", "hello")])
        try:
            at = AppTest.from_file(APP, default_timeout=90)
            at.run()
            at.sidebar.radio(key="nav_page").set_value("Settings").run()
            at.selectbox(key="set_backend").set_value(backend)
            at.text_input(key="set_base_url").set_value(server.url).run()
            assert not at.exception
            at.sidebar.radio(key="nav_page").set_value("Photo").run()
            at.button(key="photo_example").click().run()
            at.chat_input(key="photo_question").set_value("How many people are in this photo?").run()
            assert not at.exception
        finally:
            server.close()
        assert server.requests, backend
        assert all("sk-host-secret" not in (a or "") for a in server.authorization), (backend, server.authorization)


def test_key_typed_with_the_url_goes_to_that_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from facelens.ui.common import backend_for
    from tests.test_agent_openai import FakeOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    server = FakeOpenAI([("text", "hi")])
    try:
        backend = backend_for("openai", "m", server.url, "sk-typed")
        backend.chat_model.invoke("hello")
    finally:
        server.close()
    assert server.authorization == ["Bearer sk-typed"]


def test_host_key_still_goes_to_the_configured_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from facelens.ui.common import backend_for, is_new_endpoint
    from tests.test_agent_openai import FakeOpenAI

    server = FakeOpenAI([("text", "hi")])
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    try:
        assert not is_new_endpoint(server.url + "/") and not is_new_endpoint("")
        backend = backend_for("openai", "m2", server.url, "")
        backend.chat_model.invoke("hello")
    finally:
        server.close()
    assert server.authorization == ["Bearer sk-host-secret"]


# --- uploads --------------------------------------------------------------------------------------


def test_upload_folder_is_deleted_with_the_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from facelens.ui.common import UploadFolder

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    folder = UploadFolder()
    path = folder.path
    (path / "face.jpg").write_bytes(b"x")
    assert path.name.startswith(f"facelens-ui-{os.getpid()}-")
    del folder
    gc.collect()
    assert not path.exists()


def test_stale_upload_folders_of_dead_servers_are_removed(tmp_path: Path) -> None:
    from facelens.ui.launch import remove_stale_uploads

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        folders = {
            name: tmp_path / name
            for name in (
                f"facelens-ui-{dead.pid}-abc",
                f"facelens-ui-{live.pid}-def",
                f"facelens-ui-{os.getpid()}-mine",
                "facelens-ui-old12345",
                "unrelated",
            )
        }
        for p in folders.values():
            p.mkdir()
            (p / "photo.jpg").write_bytes(b"x")
        removed = {p.name for p in remove_stale_uploads(tmp_path)}
    finally:
        live.kill()
        live.wait()
    assert removed == {f"facelens-ui-{dead.pid}-abc", "facelens-ui-old12345"}
    assert folders[f"facelens-ui-{live.pid}-def"].exists() and folders["unrelated"].exists()


def test_unused_upload_folders_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed browser's uploads are gone after the TTL even while Streamlit keeps its session (issue 25, item 7)."""
    from facelens.ui.common import UploadFolder
    from facelens.ui.launch import remove_expired_uploads

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    old, fresh = UploadFolder(), UploadFolder()
    (old.path / "recording.wav").write_bytes(b"x")
    (fresh.path / "face.jpg").write_bytes(b"x")
    past = time.time() - 3600
    os.utime(old.path / "recording.wav", (past, past))
    os.utime(old.path, (past, past))
    other_server = tmp_path / "facelens-ui-1-zzz"  # another live server's: never ours to expire
    other_server.mkdir()
    os.utime(other_server, (past, past))
    assert remove_expired_uploads(ttl=600, tmp=tmp_path) == [old.path]
    assert not old.path.exists() and fresh.path.exists() and other_server.exists()
    assert remove_expired_uploads(ttl=600, tmp=tmp_path, keep=fresh.path) == []


def test_launcher_never_looks_up_the_external_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit import net_util

    from facelens.ui import launch

    def no_network(*a, **k):
        raise AssertionError("external IP lookup attempted")

    monkeypatch.setattr(net_util, "_make_blocking_http_get", no_network)
    monkeypatch.setattr(net_util, "get_external_ip", net_util.get_external_ip)  # restored after the test
    launch._no_external_ip()
    assert net_util.get_external_ip() is None


# --- a real server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_server_with_a_token(tmp_path: Path) -> None:
    """`facelens ui --token` prints a token once, serves on loopback, and cleans its uploads at shutdown."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(
        FACELENS_HOME=str(tmp_path / "home"),
        FACELENS_BACKEND="offline",
        TMPDIR=str(tmp_path),
        STREAMLIT_SERVER_FILE_WATCHER_TYPE="none",
    )
    stale = tmp_path / "facelens-ui-999999999-left"  # a killed server's uploads (no such pid)
    stale.mkdir()
    exe = Path(sys.executable).with_name("facelens")
    proc = subprocess.Popen(
        [str(exe), "ui", "--port", str(port), "--token"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert re.search(r"asks for this token: \S{20,}", first), first
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.3)
        assert not stale.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "External URL" not in out and "Network URL" not in out
