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
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is absent: apt-get install chromium to run the browser test"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_app(home: Path, timeout: float = 40.0) -> Iterator[str]:
    """``streamlit run ui/app.py`` on a free loopback port; yields its URL, stops it afterwards."""
    from facelens.agent.cli.ui import streamlit_command
    from facelens.agent.service.bench import stop_process

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
                raise RuntimeError(
                    f"streamlit exited with {proc.returncode}: {(home / 'streamlit.log').read_text()[-2000:]}"
                )
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
        stop_process(proc, 10)
        log.close()


def question_wav(path: Path) -> Path | None:
    """A spoken question for chromium's fake microphone (None without espeak-ng)."""
    import numpy as np

    from facelens.eval import media as sample_media
    from facelens.tools.errors import DependencyError

    try:
        speech = sample_media.speak("How many people are in this photo?")
    except DependencyError:
        return None
    return sample_media.write_audio(path, np.concatenate([speech, np.zeros(16000, np.float32)]))


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("home")
    with running_app(home) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, bool]]:
    """A fresh headless chromium (its own user-data dir) whose fake microphone says a question.

    Yields (context, has_microphone_speech).
    """
    playwright = pytest.importorskip("playwright.sync_api")
    folder = tmp_path_factory.mktemp("browser")
    wav = question_wav(folder / "question.wav")
    args = list(CHROMIUM_ARGS)
    if wav is not None:
        args += [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
        ]
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(folder / "profile"),
            executable_path=CHROMIUM,
            args=args,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        context.grant_permissions(["microphone"])
        try:
            yield context, wav is not None
        finally:
            context.close()


@pytest.fixture
def page(browser: tuple[object, bool], app_url: str) -> Iterator[object]:
    """A new tab on the app (a new Streamlit session)."""
    tab = browser[0].new_page()
    tab.goto(app_url, wait_until="domcontentloaded")
    try:
        yield tab
    finally:
        tab.close()


def group_photo(path: Path) -> Path:
    from PIL import Image

    from facelens.eval.scenes import example_scene

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
    # wait for the new answer and its "answered by" line (Streamlit sends elements one by one)
    page.wait_for_function(
        """n => { const m = document.querySelectorAll('[data-testid="stChatMessage"]');
                 return m.length >= n && m[m.length - 1].innerText.includes('answered by'); }""",
        arg=before + 2,
        timeout=timeout_ms,
    )
    return answers.nth(answers.count() - 1).inner_text()


def upload_photo(page: object, path: Path) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    page.get_by_text(f"{path.name}: 4 faces found").wait_for(timeout=40_000)


def error_count(page: object) -> int:
    return page.locator('[data-testid="stAlertContentError"], [data-testid="stException"]').count()


def test_count_people_in_uploaded_photo(page: object, tmp_path: Path) -> None:
    upload_photo(page, group_photo(tmp_path / "group.jpg"))
    answer = ask_in_chat(page, "How many people are in this photo?")
    assert error_count(page) == 0
    assert re.search(r"\b(4|four) people\b", answer, re.I), answer
    assert "offline planner" in answer
    # the annotated photo and the face crops really render (a broken media endpoint shows none)
    page.wait_for_function(
        """() => { const imgs = [...document.querySelectorAll('[data-testid="stImage"] img, [data-testid="stImageContainer"] img, img')]
                   .filter(i => i.src.includes('/media/'));
                   return imgs.length >= 5 && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        timeout=20_000,
    )


def test_spoken_question_through_the_microphone(page: object, browser: tuple[object, bool], tmp_path: Path) -> None:
    if not browser[1]:
        pytest.skip("needs espeak-ng to make the question chromium's fake microphone plays")
    upload_photo(page, group_photo(tmp_path / "group.jpg"))
    page.locator('[data-testid="stSidebar"]').get_by_text("Voice", exact=True).click()
    recorder = page.locator('[data-testid="stAudioInput"]')
    recorder.get_by_test_id("stAudioInputActionButton").click()  # start recording
    time.sleep(3.5)  # the fake microphone loops the 3.5 s question
    recorder.get_by_test_id("stAudioInputActionButton").click()  # stop: the WAV goes to the app
    page.get_by_text("You said:").wait_for(timeout=60_000)
    page.get_by_text("answered by").wait_for(timeout=30_000)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert error_count(page) == 0
    assert re.search(r"how many people", text, re.I), text
    assert re.search(r"\b4 people\b", text), text
