"""``facelens mcp``: facelens's tools for MCP clients (desktop assistants, agent frameworks).

``facelens mcp`` speaks MCP over stdio (the client starts it); ``facelens mcp --http`` serves streamable
HTTP on 127.0.0.1 at /mcp, where every request needs a facelens API key (``facelens apikey create``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from facelens.agent.cli import CommandTable
from facelens.tools.errors import ConfigError, missing_dependency

HELP_ORDER = 110
COMMANDS = CommandTable()

DEFAULT_PORT = 8765


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--http", action="store_true", help="streamable HTTP on --host/--port instead of stdio")
    p.add_argument("--host", default="127.0.0.1", help="with --http: loopback address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"with --http: port (default {DEFAULT_PORT})")
    p.add_argument("--allow-edit", action="store_true", help="stdio only: also offer enroll_person and remove_person")


@COMMANDS.command("mcp", _arguments)
def cmd_mcp(args: argparse.Namespace) -> int:
    """serve facelens's tools over the Model Context Protocol (stdio or HTTP)

    MCP server: read-only photo and session tools by default. stdio for desktop assistants; --http for streamable
    HTTP on 127.0.0.1 with facelens API keys (enrolment and erasure need an editor key).
    """
    if importlib.util.find_spec("mcp") is None:
        raise missing_dependency("mcp", "mcp", "facelens mcp")
    if not args.http:
        from facelens.agent.service.mcp_server import run_stdio

        run_stdio(allow_edit=args.allow_edit)
        return 0
    if args.allow_edit:
        raise ConfigError(
            "--allow-edit is for stdio; over HTTP the key's role decides.",
            hint="Give the client an editor key (facelens apikey create NAME --role editor).",
        )
    for module, package in (("uvicorn", "uvicorn"), ("starlette", "starlette")):
        if importlib.util.find_spec(module) is None:
            raise missing_dependency(package, "serve", "facelens mcp --http")
    from facelens.agent.cli.serve import check_port
    from facelens.agent.cli.ui import is_loopback
    from facelens.agent.service import server
    from facelens.agent.service.keys import KeyStore
    from facelens.agent.service.mcp_server import http_app

    if not is_loopback(args.host):
        raise ConfigError(
            f"facelens mcp --http listens on this machine only, not {args.host}.",
            hint="Leave --host at 127.0.0.1; for the network use facelens serve behind TLS.",
        )
    check_port(args.host, args.port)
    keys = len(KeyStore())
    note = f"{keys} API key(s)" if keys else "no API key yet: create one (facelens apikey create NAME --role reader)"
    print(f"facelens mcp: http://{args.host}:{args.port}/mcp (streamable HTTP); {note}", file=sys.stderr, flush=True)
    # the same hardened uvicorn as facelens serve: bounded request heads, a time limit on unfinished
    # heads, secrets redacted from the logs
    server.run(http_app(args.host), args.host, args.port, queue_bound=64, verbose=bool(args.verbose))
    return 0
