"""The FastAPI application of ``facelens serve``: keys and roles, limits, error shapes, and the routes.

Every answer is the JSON the CLI prints with ``--json`` for the same verb (one code path each, see
:mod:`facelens.agent.assistant.api`). Errors are ``{"error", "message", "hint"}`` with a 4xx status for the
client's mistakes and never carry a traceback.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from facelens.agent.service.access import ADMIN, EDITOR, READER, authorize, require  # noqa: F401 - also app.*, as before
from facelens.agent.service.jobs import JobRunner
from facelens.agent.service.keys import KeyStore
from facelens.agent.service.limits import AuthGate, BodyLimitMiddleware, Limits, ServiceError, WorkQueue, status_for
from facelens.tools.errors import FacelensError

log = logging.getLogger(__name__)

_HTTP_KINDS = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "bad_input",
    429: "busy",
}


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("facelens")
    except PackageNotFoundError:
        return "unknown"


def _error(status: int, body: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


#: an absolute file path (not a URL's): /a/b/c.ext
_PATH = re.compile(r"(?<![\w:/.~])(?:/[^\s/:;,'\"()<>]+)+/?")


def _no_paths(text: str | None) -> str | None:
    """A message for a REST client with every absolute path cut to its last part: the server's
    folders (FACELENS_HOME, the account's name) are none of a client's business."""
    if not text:
        return text
    return _PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1] or "/", text)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.to_dict(), exc.headers)

    @app.exception_handler(FacelensError)
    async def facelens_error(request: Request, exc: FacelensError) -> JSONResponse:
        return _error(status_for(exc), {k: _no_paths(v) for k, v in exc.to_dict().items()})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "form"))
            problems.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
        return _error(
            422,
            {
                "error": "bad_input",
                "message": "; ".join(problems) or "The request is invalid.",
                "hint": "See the API's schema at /docs.",
            },
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(
            exc.status_code,
            {"error": _HTTP_KINDS.get(exc.status_code, "error"), "message": str(exc.detail), "hint": None},
            getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return _error(
            500,
            {
                "error": "internal",
                "message": f"Unexpected server error ({type(exc).__name__}); it is in the server's log.",
                "hint": None,
            },
        )


def create_app(
    *, limits: Limits | None = None, keys: KeyStore | None = None, cors_origins: list[str] | None = None
) -> FastAPI:
    """The service.

    Args:
        limits: worker count, queue depth, timeout (default: from the environment).
        keys: the API key store (default: FACELENS_HOME/apikeys.json); every route but the health
            check needs a key from it, also on loopback (other accounts of this machine reach it too).
        cors_origins: browser origins allowed to call the API (default none: CORS off).
    """
    from facelens.agent.service.uploads import remove_stale_uploads

    limits = limits or Limits.from_env()
    remove_stale_uploads()  # what killed servers left behind
    app = FastAPI(
        title="facelens",
        version=version(),
        docs_url="/docs",
        redoc_url=None,
        description="Questions about the people in photos, audio and recorded sessions. "
        "Send 'Authorization: Bearer KEY'; roles: reader < editor < admin.",
    )
    app.state.limits = limits
    app.state.keys = keys if keys is not None else KeyStore()
    app.state.work = WorkQueue(limits)
    app.state.jobs = JobRunner(limits.jobs)
    _install_error_handlers(app)
    # outermost last: CORS (preflights), then the key check, then the size limits, all before the body is read
    app.add_middleware(BodyLimitMiddleware, limits=limits)
    app.add_middleware(AuthGate, authorize=authorize)
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.get("/v1/health", tags=["service"])
    def health() -> dict:
        """Is the server up? (no key needed)"""
        return {"status": "ok", "version": version()}

    routers = [importlib.import_module(f"{__package__}.{name}").router for name in route_modules()]
    for router in routers:
        app.include_router(router)
    app.state.keyed_routes = [r for router in routers for r in router.routes]  # for AuthGate
    return app


def route_modules(folders: Iterable[str] | None = None) -> list[str]:
    """The service's route modules: every ``routes_*.py`` of this package (or of ``folders``), each with an
    ``APIRouter`` named ``router``, in the order of their ``ROUTE_ORDER`` (a module without one comes last,
    then by name). A new module of that shape is a new set of routes, without a list to edit. Read from the
    source files, as the CLI finds its command modules (:func:`facelens.agent.cli.plugin_modules`)."""
    import sys

    order: dict[str, int] = {}
    for folder in sys.modules[__package__].__path__ if folders is None else folders:
        for path in sorted(Path(folder).glob("routes_*.py")):
            m = re.search(r"^ROUTE_ORDER = (\d+)", path.read_text(encoding="utf-8"), re.MULTILINE)
            order.setdefault(path.stem, int(m[1]) if m else 10**9)
    return sorted(order, key=lambda name: (order[name], name))


__all__ = ["create_app", "route_modules", "require", "authorize", "READER", "EDITOR", "ADMIN"]
