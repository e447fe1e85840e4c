"""The app in a real browser: Debian's chromium, driven by Playwright, against ``streamlit run``.

Starts the app on a free loopback port with a temporary FACELENS_HOME and the offline backend,
uploads a generated four-person photo, asks "How many people are in this photo?" in the chat and
reads the answer off the page. Playwright's own browser download does not work on these machines,
so it drives /usr/bin/chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium to run the browser test"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(home: Path, timeout: float = 40.0) -> Iterator[str]:
    """``streamlit run ui/app.py`` on a free loopback port; yields its URL, stops it afterwards."""
    from facelens.agent.cli.ui import streamlit_command

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(FACELENS_HOME=str(home), FACELENS_BACKEND="offline", STREAMLIT_SERVER_FILE_WATCHER_TYPE="none")
    log = open(home / "streamlit.log", "wb")
    proc = subprocess.Popen(streamlit_command(port, "127.0.0.1"), env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}: {(home / 'streamlit.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("streamlit did not start in time")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def browser_page(profile: Path) -> Iterator[object]:
    """A page of a fresh headless chromium (its own user-data dir)."""
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


def group_photo(path: Path) -> Path:
    from PIL import Image

    from facelens.tools.samples import example_scene

    rgb, placed = example_scene()
    assert len(placed) == 4
    Image.fromarray(rgb).save(path, quality=92)
    return path


def ask_in_chat(page: object, question: str, timeout_ms: int = 40_000) -> str:
    """Type a question into the chat box, send it, and return the text of the newest answer."""
    before = page.locator('[data-testid="stChatMessage"]').count()
    box = page.locator('[data-testid="stChatInputTextArea"]')
    box.fill(question)
    box.press("Enter")
    answers = page.locator('[data-testid="stChatMessage"]')
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"stChatMessage\"]').length >= n", arg=before + 2, timeout=timeout_ms,
    )
    return answers.nth(answers.count() - 1).inner_text()


def test_count_people_in_uploaded_photo(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    photo = group_photo(tmp_path / "group.jpg")
    t0 = time.monotonic()
    with running_app(home) as url, browser_page(tmp_path / "profile") as page:
        page.goto(url, wait_until="domcontentloaded")
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
        page.get_by_text("group.jpg: 4 faces found").wait_for(timeout=40_000)
        answer = ask_in_chat(page, "How many people are in this photo?")
        errors = page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]').count()
    assert errors == 0
    assert re.search(r"\b(4|four) people\b", answer, re.I), answer
    assert "offline planner" in answer
    assert time.monotonic() - t0 < 90
