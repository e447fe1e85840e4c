"""Shared fixtures: a private FACELENS_HOME per test, public-domain faces, composed scenes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
