"""``facelens ui [--port PORT] [--address ADDR] [--token]``: start the Streamlit app (headless: it prints the URL).

Safe by default: the app listens on 127.0.0.1 only. Any other address shares it on the network, so a
secret is required and the app asks for it before drawing anything: ``FACELENS_UI_PASSWORD``, or with
``--token`` a random token printed here once. Without either, a non-loopback address is refused.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import secrets
import subprocess
import sys
from pathlib import Path

from facelens.agent.cli import CommandTable
from facelens.tools.errors import ConfigError, InputError, missing_dependency

HELP_ORDER = 90
COMMANDS = CommandTable()

DEFAULT_ADDRESS = "127.0.0.1"
PASSWORD_ENV = "FACELENS_UI_PASSWORD"
MIN_PASSWORD = 8


def app_path() -> Path:
    """Where the app's entry script is (inside the installed facelens.ui package)."""
    spec = importlib.util.find_spec("facelens.ui")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("The facelens.ui package is not installed.", hint="Reinstall facelens: pip install -e .")
    return Path(list(spec.submodule_search_locations)[0]) / "app.py"


def is_loopback(address: str) -> bool:
    """Is ``address`` reachable from this machine only? (127.0.0.0/8, ::1, localhost)"""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to a public interface


def streamlit_command(port: int, address: str = DEFAULT_ADDRESS) -> list[str]:
    """The command line that runs the app: headless, no usage stats, no external-IP lookup (see ui/launch.py)."""
    return [
        sys.executable,
        "-m",
        "facelens.ui.launch",
        "run",
        str(app_path()),
        "--server.headless",
        "true",
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--browser.serverAddress",
        "localhost" if is_loopback(address) else address,
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",  # no "Deploy" button: this is a local app
    ]


def server_environment(address: str, *, token: str | None = None, env: dict[str, str] | None = None) -> dict[str, str]:
    """The app server's environment: on a non-loopback address, the login secret's hash (never the secret).

    Raises:
        ConfigError: a non-loopback address without FACELENS_UI_PASSWORD or a token, or a password too short.
    """
    from facelens.ui.auth import AUTH_ENV, hash_secret

    out = dict(os.environ if env is None else env)
    password = out.pop(PASSWORD_ENV, "")  # the server compares hashes; the secret stays here
    out.pop(AUTH_ENV, None)
    if is_loopback(address) and not token:
        return out
    secret = token or password
    if not secret:
        raise ConfigError(
            f"facelens ui on {address} would let anyone on the network use this machine's gallery, settings and keys.",
            hint=f"Set {PASSWORD_ENV} (at least {MIN_PASSWORD} characters), or add --token to print a one-time "
            f"token, or leave --address at {DEFAULT_ADDRESS}.",
        )
    if not token and len(password) < MIN_PASSWORD:
        raise ConfigError(
            f"{PASSWORD_ENV} is too short for an app on the network.",
            hint=f"Use at least {MIN_PASSWORD} characters, or --token.",
        )
    out[AUTH_ENV] = hash_secret(secret)
    return out


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    p.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help=f"address to listen on (default {DEFAULT_ADDRESS}; e.g. 0.0.0.0 shares the app on the network "
        f"and then requires {PASSWORD_ENV} or --token)",
    )
    p.add_argument(
        "--token",
        action="store_true",
        help=f"generate a random login token, print it once and require it (instead of {PASSWORD_ENV})",
    )


@COMMANDS.command(
    "ui",
    _arguments,
    description="Start the facelens web app and print the address to open in a browser. It listens "
    f"on {DEFAULT_ADDRESS} (this machine only) unless --address says otherwise; any other "
    f"address needs {PASSWORD_ENV} or --token.",
)
def cmd_ui(args: argparse.Namespace) -> int:
    """start the web app (Streamlit)"""
    if not 1 <= args.port <= 65535:
        raise InputError(f"--port must be between 1 and 65535, not {args.port}.")
    if not str(args.address).strip():
        raise InputError("--address is empty.", hint=f"Leave it out to listen on {DEFAULT_ADDRESS}.")
    if importlib.util.find_spec("streamlit") is None:
        raise missing_dependency("streamlit", why="the web app")
    token = secrets.token_urlsafe(24) if args.token else None
    env = server_environment(args.address, token=token)
    cmd = streamlit_command(args.port, args.address)
    if token or not is_loopback(args.address):
        print(
            f"facelens ui: serving on {args.address}:{args.port}; the app asks for "
            + (f"this token: {token}" if token else f"the password in {PASSWORD_ENV}"),
            flush=True,
        )
    if os.name == "posix":  # become Streamlit, so Ctrl-C and kill reach the server itself
        sys.stdout.flush()
        os.execve(cmd[0], cmd, env)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0
