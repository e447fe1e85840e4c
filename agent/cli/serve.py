"""``facelens serve`` (the REST API) and ``facelens apikey create|list|revoke`` (its keys).

Safe by default: the server listens on 127.0.0.1, and every route but ``/v1/health`` needs an API key
(other accounts of the machine reach a loopback port too). A network address is refused while no key
exists, since nobody could use it; a key created while the server runs works at once.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import TYPE_CHECKING

from facelens.agent.cli import CommandTable, emit, print_json
from facelens.agent.cli.options import add_json_flag
from facelens.tools.errors import ConfigError, InputError, missing_dependency

if TYPE_CHECKING:
    from facelens.agent.service.keys import ApiKey

HELP_ORDER = 100
COMMANDS = CommandTable()

DEFAULT_HOST = "127.0.0.1"


def need_serve_extra() -> None:
    for module, package in (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("multipart", "python-multipart")):
        if importlib.util.find_spec(module) is None:
            raise missing_dependency(package, "serve", "facelens serve")


def check_host(host: str, keys: int) -> None:
    """Raises ConfigError for a network address while no key exists (InputError for an empty one)."""
    from facelens.agent.cli.ui import is_loopback

    if not host.strip():
        raise InputError("--host is empty.", hint=f"Leave it out to listen on {DEFAULT_HOST}.")
    if not is_loopback(host) and keys == 0:
        raise ConfigError(
            f"facelens serve on {host} would let anyone on the network use this machine's gallery and sessions.",
            hint=f"Create a key first (facelens apikey create NAME --role admin), or leave --host at {DEFAULT_HOST}.",
        )


def check_port(host: str, port: int) -> None:
    """Raises InputError when ``port`` cannot be bound (taken, or privileged), before loading anything."""
    import socket

    if not 1 <= port <= 65535:
        raise InputError(f"--port must be between 1 and 65535, not {port}.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise InputError(
                f"Cannot listen on {host}:{port}: {exc.strerror}.", hint="Choose another --port, or stop what uses it."
            ) from exc


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}, this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--cors",
        default=None,
        metavar="ORIGINS",
        help="comma-separated browser origins allowed to call the API (default: none, CORS off)",
    )


@COMMANDS.command(
    "serve",
    _serve_arguments,
    description=f"Serve facelens as a REST API on {DEFAULT_HOST}:8000 unless told otherwise. A non-loopback "
    "--host needs an API key to exist first (facelens apikey create).",
)
def cmd_serve(args: argparse.Namespace) -> int:
    """serve the REST API (FastAPI; docs at /docs)"""
    need_serve_extra()
    from facelens.agent.service import server
    from facelens.agent.service.app import create_app
    from facelens.agent.service.keys import KeyStore
    from facelens.agent.service.limits import Limits

    keys = KeyStore()
    check_host(args.host, len(keys))
    check_port(args.host, args.port)
    limits = Limits.from_env()
    origins = [o.strip() for o in (args.cors or "").split(",") if o.strip()]
    app = create_app(limits=limits, keys=keys, cors_origins=origins or None)
    mode = (
        f"{len(keys)} API key(s); every request needs one"
        if len(keys)
        else "no API key yet: every request gets 401 until one exists (facelens apikey create NAME --role admin)"
    )
    print(
        f"facelens serve: http://{args.host}:{args.port} (docs at /docs); {mode}; "
        f"{limits.workers} workers, queue {limits.queue}, timeout {limits.timeout_s:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    server.run(app, args.host, args.port, queue_bound=limits.workers + limits.queue, verbose=bool(args.verbose))
    return 0


APIKEY = COMMANDS.group("apikey", "API keys of facelens serve: create, list, revoke")


def _create_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument(
        "--role",
        choices=["reader", "editor", "admin"],
        default="reader",
        help="reader: analyze, ask, identify, read; editor: + enrol, sessions; admin: + remove, keys",
    )
    add_json_flag(p)


@APIKEY.command("create", _create_arguments)
def cmd_key_create(args: argparse.Namespace) -> int:
    """create a key and print it (once; only a hash is stored)"""
    from facelens.agent.service.keys import KeyStore

    key, token = KeyStore().create(args.name, args.role)
    if args.json:
        print_json({**key.to_dict(), "key": token})
    else:
        print(token)
        print(
            f"API key '{key.name}' ({key.role}) created. It is shown only now: store it safely; "
            "send it as 'Authorization: Bearer KEY'.",
            file=sys.stderr,
        )
    return 0


@APIKEY.command("list", add_json_flag)
def cmd_key_list(args: argparse.Namespace) -> int:
    """key names, roles and public ids"""
    from facelens.agent.service.keys import KeyStore

    return emit(args, KeyStore().list(), _print_keys)


def _print_keys(keys: list[ApiKey]) -> None:
    if not keys:
        print("No API keys. Create one with: facelens apikey create NAME --role reader|editor|admin")
    for k in keys:
        print(f"{k.name}\t{k.role}\tflk_{k.key_id}_...\t{k.created}")


def _name_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")


@APIKEY.command("revoke", _name_argument)
def cmd_key_revoke(args: argparse.Namespace) -> int:
    """delete a key"""
    from facelens.agent.service.keys import KeyStore

    key = KeyStore().revoke(args.name)
    print(f"revoked API key '{key.name}' ({key.role}); a running server refuses it from now on")
    return 0
