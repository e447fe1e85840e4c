"""``facelens ui [--port PORT]``: start the Streamlit app (headless: it prints the URL to open)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from facelens.tools.errors import InputError, missing_dependency


def app_path() -> Path:
    """Where the app's entry script is (inside the installed facelens.ui package)."""
    spec = importlib.util.find_spec("facelens.ui")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("The facelens.ui package is not installed.", hint="Reinstall facelens: pip install -e .")
    return Path(list(spec.submodule_search_locations)[0]) / "app.py"


def streamlit_command(port: int, address: str | None = None) -> list[str]:
    """The command line that runs the app (headless: no browser is opened, no usage stats are sent)."""
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.headless", "true",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",  # no "Deploy" button: this is a local app
    ]
    if address:
        cmd += ["--server.address", address]
    return cmd


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ui", help="start the web app (Streamlit)",
                       description="Start the facelens web app and print the address to open in a browser.")
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    p.add_argument("--address", default=None, help="address to listen on (default: Streamlit's, all interfaces; "
                                                   "127.0.0.1 keeps it on this machine)")
    p.set_defaults(handler=cmd_ui)


def cmd_ui(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise InputError(f"--port must be between 1 and 65535, not {args.port}.")
    if importlib.util.find_spec("streamlit") is None:
        raise missing_dependency("streamlit", why="the web app")
    cmd = streamlit_command(args.port, args.address)
    if os.name == "posix":  # become Streamlit, so Ctrl-C and kill reach the server itself
        sys.stdout.flush()
        os.execv(cmd[0], cmd)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0
