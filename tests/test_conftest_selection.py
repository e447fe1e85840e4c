"""The fast default selection (tests/conftest.py): a bare `pytest` leaves out the slow files and the tests
marked slow, `pytest --all` runs every test, and whatever is named runs as asked."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.fixture
def project(tmp_path) -> Path:
    """A project with this conftest: one fast file, one file listed as slow, one test marked slow."""
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\nmarkers = ["slow: long-running tests"]\n'
    )
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(CONFTEST, tests / "conftest.py")
    (tests / "test_fast.py").write_text(
        "import pytest\n\ndef test_quick():\n    pass\n\n@pytest.mark.slow\ndef test_marked_slow():\n    pass\n"
    )
    (tests / sorted(_slow_files())[0]).write_text("def test_in_a_slow_file():\n    pass\n")
    return tmp_path


def collected(project: Path, *args: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        # the installed plugins (anyio, langsmith, ...) are not what is tested, and cost a second a run
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return {line.rsplit("::", 1)[1] for line in out.stdout.splitlines() if "::" in line}


def test_a_bare_pytest_runs_the_fast_selection(project):
    assert collected(project) == {"test_quick"}


def test_all_runs_every_test(project):
    assert collected(project, "--all") == {"test_quick", "test_marked_slow", "test_in_a_slow_file"}


def test_named_files_keywords_and_markers_run_as_asked(project):
    slow_file = next(p.name for p in (project / "tests").glob("test_*.py") if p.name != "test_fast.py")
    assert collected(project, f"tests/{slow_file}") == {"test_in_a_slow_file"}
    assert collected(project, "tests/test_fast.py") == {"test_quick", "test_marked_slow"}
    assert collected(project, "-m", "slow") == {"test_marked_slow"}
    assert collected(project, "-k", "slow_file") == {"test_in_a_slow_file"}


def test_every_slow_file_exists():
    """A renamed or deleted test file must leave the list, or the fast selection would silently grow."""
    missing = [name for name in sorted(_slow_files()) if not (CONFTEST.parent / name).exists()]
    assert not missing, f"tests/conftest.py SLOW_FILES names files that do not exist: {missing}"


def _slow_files() -> frozenset[str]:
    sys.path.insert(0, str(CONFTEST.parent))
    try:
        from conftest import SLOW_FILES
    finally:
        sys.path.pop(0)
    return SLOW_FILES
