"""Packages found automatically under pyproject.toml's package-dir mapping (the metadata lives in pyproject.toml).

``facelens.agent`` is the folder ``agent/``, ``facelens.tools`` is ``tools/`` and so on; every folder below one of
them is a package (or a data folder such as ``tools/data/models``), so a new sub-package needs no list to edit.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
SKIP = ["__pycache__", "*.__pycache__", "*.egg-info", "*.egg-info.*"]

packages = []
for package, folder in PACKAGE_DIR.items():
    packages.append(package)
    packages += [f"{package}.{sub}" for sub in find_namespace_packages(str(HERE / folder), exclude=SKIP)]

if __name__ == "__main__":  # setuptools runs this file as __main__; importing it builds nothing
    setup(packages=sorted(packages))
