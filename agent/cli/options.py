"""Options that several commands share, each added by one function so that its flag, default and help
are written once. Each imports what it needs when called: nothing heavy at import."""

from __future__ import annotations

import argparse


def add_json_flag(p: argparse.ArgumentParser, help: str | None = None) -> None:
    """``--json``: print the result as JSON (``help`` says its shape where the command documents it)."""
    p.add_argument("--json", action="store_true", help=help)


def add_detector_option(p: argparse.ArgumentParser) -> None:
    """The shared ``--detector`` flag (choices come from the registered detectors)."""
    from facelens.tools import faces

    p.add_argument(
        "--detector",
        default=None,
        choices=faces.available_detectors(),
        help=f"face detector (default: {faces.DEFAULT_DETECTOR})",
    )


def add_backend_option(p: argparse.ArgumentParser, help: str) -> None:
    """``--backend``: who answers, one of the LLM backend registry's names (default: resolved later)."""
    from facelens.agent.assistant import backends

    p.add_argument("--backend", choices=backends.NAMES, default=None, help=help)


def add_data_option(p: argparse.ArgumentParser) -> None:
    """``--data``: the folder of the shared research data (default: ../shared/data)."""
    p.add_argument("--data", default=None, help="the data folder (default ../shared/data next to the repository)")


def add_allow_cloud_images_flag(p: argparse.ArgumentParser, help: str) -> None:
    """``--allow-cloud-images``: consent to send face crops to a cloud vision model (absent: the setting decides)."""
    p.add_argument("--allow-cloud-images", action="store_true", default=None, help=help)


def add_vlm_option(p: argparse.ArgumentParser) -> None:
    """``--vlm``: which VLM describes faces, one of the VLM backend registry's choices (default: resolved later)."""
    from facelens.tools import vlm_backends

    p.add_argument(
        "--vlm",
        choices=vlm_backends.BACKEND_CHOICES,
        default=None,
        help="backend (default: FACELENS_VLM, else vlm: in config.yaml, else auto)",
    )
