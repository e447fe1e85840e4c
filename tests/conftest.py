"""Shared fixtures: a private FACELENS_HOME per test, public-domain faces, composed scenes; the fast selection.

`pytest` with no paths runs the fast selection: every test but the files in SLOW_FILES and the tests marked
`slow`. `pytest --all` runs every test (what CI runs, .ci/run). Named files or tests (`pytest tests/test_x.py`,
`-k`, `-m`) run as asked.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: test files left out of the fast selection: the CLI in subprocesses, real servers, browsers, Milvus, Ray,
#: killed processes, strace, recorded sessions. Chosen from per-test CPU times on 2 cores (7 Dec 2026): the
#: fast selection (975 tests) took 3.7 minutes and 240 CPU-seconds, the whole set takes about 25 minutes; a
#: file that costs a few seconds stays in the fast selection.
SLOW_FILES = frozenset(
    {
        "test_cli_foundation.py",
        "test_crash_safety.py",
        "test_identity_milvus.py",
        "test_live.py",
        "test_mcp.py",
        "test_privacy_offline.py",
        "test_security_runtime.py",
        "test_serve.py",
        "test_service_hardening.py",
        "test_session_batch.py",
        "test_sessions.py",
        "test_ui_apptest.py",
        "test_ui_browser.py",
        "test_ui_live.py",
    }
)


def pytest_addoption(parser):
    parser.addoption(
        "--all",
        action="store_true",
        dest="run_all",
        help="run every test, the slow files and the tests marked slow too (what CI runs); "
        "a bare `pytest` runs the fast selection",
    )


def _fast_selection(config) -> bool:
    """A bare `pytest` (no paths, no -k, no -m) runs the fast selection; anything named runs as asked."""
    if config.getoption("run_all") or config.args_source is not pytest.Config.ArgsSource.TESTPATHS:
        return False
    return not config.getoption("keyword") and not config.getoption("markexpr")


def pytest_report_header(config):
    if _fast_selection(config):
        return "fast selection: the slow files and tests marked slow are left out; `pytest --all` runs every test"
    return None


def pytest_collection_modifyitems(config, items):
    if not _fast_selection(config):
        return
    keep, slow = [], []
    for item in items:
        (slow if item.path.name in SLOW_FILES or item.get_closest_marker("slow") else keep).append(item)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = keep


@pytest.fixture(autouse=True)
def facelens_home(tmp_path, monkeypatch):
    """Every test gets an empty FACELENS_HOME, so no test sees another's gallery or cache."""
    home = tmp_path / "facelens-home"
    monkeypatch.setenv("FACELENS_HOME", str(home))
    return home


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with a message when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs the research data at {path} (absent on a fresh clone)")
    return path


def save(rgb: np.ndarray, path: Path, fmt: str = "JPEG", **kw) -> Path:
    Image.fromarray(rgb).save(path, format=fmt, **kw)
    return path


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from facelens.eval import scenes as samples

    return samples.astronaut()


@pytest.fixture(scope="session")
def hopper() -> np.ndarray:
    from facelens.eval import scenes as samples

    return samples.grace_hopper()


@pytest.fixture
def astronaut_jpg(tmp_path, astronaut) -> Path:
    return save(astronaut, tmp_path / "astronaut.jpg")


@pytest.fixture
def hopper_jpg(tmp_path, hopper) -> Path:
    return save(hopper, tmp_path / "hopper.jpg")


@pytest.fixture
def group_jpg(tmp_path) -> tuple[Path, list]:
    """The example scene: hopper/blue, astronaut/red, hopper/green, astronaut/yellow, left to right."""
    from facelens.eval import scenes as samples

    rgb, placed = samples.example_scene()
    return save(rgb, tmp_path / "group.jpg", quality=92), placed


def pytest_collection_finish(session):
    """Start Ray before any test runs when Ray tests were collected: ray.init() forks its head processes
    and runs Python in the child before exec, which crashed in CI once earlier tests had filled this
    process with model threads (7 Dec). Started now, from a quiet process, it is shared by those tests."""
    if not any("ray" in item.name and item.fspath.basename == "test_session_batch.py" for item in session.items):
        return
    try:
        import ray
    except ImportError:
        return
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        session.config._facelens_started_ray = True


def pytest_sessionfinish(session, exitstatus):
    if getattr(session.config, "_facelens_started_ray", False):
        import ray

        ray.shutdown()
