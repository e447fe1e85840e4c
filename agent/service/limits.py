"""What keeps a burst of requests from exhausting the server: a bounded work queue, request
timeouts, request-body limits, and errors that are JSON with a message and a hint (never a traceback).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException

from facelens.tools import config, media, settings
from facelens.tools.errors import (
    BackendError,
    ConfigError,
    DependencyError,
    FacelensError,
    GalleryError,
    ImageError,
    InputError,
    MediaError,
    ModelError,
    NoFaceError,
    NotFoundError,
)

log = logging.getLogger(__name__)


def _env_number(name: str, default: float) -> float:
    return float(settings.value(name, default=default))


@dataclass(frozen=True)
class Limits:
    """The service's limits (each from an environment variable; defaults suit a 2-core machine)."""

    workers: int = 2  # requests computed at once (FACELENS_SERVE_WORKERS)
    queue: int = 16  # requests waiting beyond those; more get 429 (FACELENS_SERVE_QUEUE)
    timeout_s: float = 120.0  # a request's wait + work; then 504 (FACELENS_SERVE_TIMEOUT)
    jobs: int = 4  # session uploads waiting for ingest; more get 429 (FACELENS_SERVE_JOBS)
    max_files: int = 10  # photos per enrolment request
    retry_after_s: int = 2  # what a 429 tells the client to wait

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            workers=max(1, int(_env_number("serve_workers", cls.workers))),
            queue=max(0, int(_env_number("serve_queue", cls.queue))),
            timeout_s=max(1.0, _env_number("serve_timeout", cls.timeout_s)),
            jobs=max(1, int(_env_number("serve_jobs", cls.jobs))),
        )


class ServiceError(Exception):
    """An HTTP error with the body shape of :meth:`FacelensError.to_dict`."""

    def __init__(
        self, status: int, kind: str, message: str, hint: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.kind, self.message, self.hint, self.headers = status, kind, message, hint, headers or {}

    def to_dict(self) -> dict[str, str | None]:
        return {"error": self.kind, "message": self.message, "hint": self.hint}


def status_for(exc: FacelensError) -> int:
    """The HTTP status of a facelens error: the client's fault is 4xx, the server's 5xx."""
    for cls, status in (
        (NotFoundError, 404),
        (NoFaceError, 422),
        (ImageError, 422),
        (MediaError, 422),
        (InputError, 422),
        (ConfigError, 400),
        (GalleryError, 409),
        (BackendError, 502),
        (DependencyError, 503),
        (ModelError, 503),
    ):
        if isinstance(exc, cls):
            return status
    return 500


def queue_full(limits: Limits, what: str = "requests") -> ServiceError:
    return ServiceError(
        429,
        "busy",
        f"The server is busy ({what} queue full).",
        hint=f"Retry in {limits.retry_after_s} s.",
        headers={"Retry-After": str(limits.retry_after_s)},
    )


class WorkQueue:
    """At most ``workers`` calls run at once and ``queue`` more wait; the next one is refused (429).

    The work runs in a thread. A request whose wait + work passes ``timeout_s`` is answered 504; a
    call still waiting then is dropped, one already running finishes and frees its slot, so the
    bound holds.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._slots = threading.Semaphore(limits.workers)
        self._lock = threading.Lock()
        self._admitted = 0
        self.capacity = limits.workers + limits.queue

    def admit(self) -> None:
        """Take a place in the queue, or raise the 429."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise queue_full(self.limits)
            self._admitted += 1

    def check_room(self) -> None:
        """Raise the 429 now if the queue is full (for responses that start before the work)."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise queue_full(self.limits)

    def _leave(self) -> None:
        with self._lock:
            self._admitted -= 1

    def wrap(self, fn: Callable[..., Any], deadline: float) -> Callable[..., Any]:
        """``fn`` run in a worker slot (call after :meth:`admit`; leaves the queue when done)."""

        def job(*args: Any, **kw: Any) -> Any:
            try:
                with self._slots:
                    if time.monotonic() > deadline:  # its client was already answered 504
                        raise TimeoutError
                    return fn(*args, **kw)
            finally:
                self._leave()

        return job

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in a worker thread under the limits (429 when full, 504 past the timeout)."""
        import anyio.to_thread

        self.admit()
        deadline = time.monotonic() + self.limits.timeout_s
        job = self.wrap(fn, deadline)
        try:
            return await asyncio.wait_for(
                anyio.to_thread.run_sync(job, *args, abandon_on_cancel=True), self.limits.timeout_s
            )
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise ServiceError(
                504,
                "timeout",
                f"The request took longer than {self.limits.timeout_s:.0f} s.",
                hint="Retry later, or raise FACELENS_SERVE_TIMEOUT.",
            ) from exc


def body_limit(method: str, path: str, limits: Limits) -> int:
    """The largest request body accepted for a route (uploads' own limits plus room for the form)."""
    slack = 1 << 20
    if method == "POST" and path.rstrip("/") == "/v1/sessions":
        return media.max_bytes() + slack
    if method == "POST" and path.startswith("/v1/gallery/"):
        return config.max_image_bytes() * limits.max_files + slack
    return config.max_image_bytes() + slack


class _TooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException so FastAPI's form parsing passes it on as is."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request is larger than this route's limit of {limit / 1e6:.0f} MB.")


class BodyLimitMiddleware:
    """Refuse a request body over its route's limit with 413: by Content-Length before reading it,
    and while it streams in for bodies that do not declare a length. Nothing over it is buffered."""

    def __init__(self, app: Any, limits: Limits) -> None:
        self.app, self.limits = app, limits

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["method"], scope["path"], self.limits)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_413(send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracking_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_413(send, limit)


async def _send_413(send: Callable, limit: int) -> None:
    await _send_json(
        send,
        413,
        {
            "error": "too_large",
            "message": f"The request is larger than this route's limit of {limit / 1e6:.0f} MB.",
            "hint": "Send a smaller file, or raise FACELENS_MAX_IMAGE_BYTES / FACELENS_MAX_MEDIA_BYTES on the server.",
        },
    )


async def _send_json(send: Callable, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    """Answer without reading the request body; ``connection: close`` so the unread body is dropped with the connection."""
    import json

    data = json.dumps(body).encode()
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
        (b"connection", b"close"),
    ]
    head += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})


def route_role(routes: Any, scope: dict) -> str | None:
    """The role the route matching ``scope`` requires (from its :func:`~facelens.agent.service.access.require`
    dependency), or None for open routes (health, docs) and for requests no route takes.

    ``routes``: the routers' own routes (``APIRouter.routes``, full paths), not the app's: FastAPI wraps
    included routers in objects of its own."""
    from starlette.routing import Match

    for route in routes or ():
        match, _ = route.matches(scope)
        if match == Match.FULL:
            for dep in getattr(route, "dependencies", ()):
                role = getattr(getattr(dep, "dependency", None), "facelens_role", None)
                if role:
                    return role
            return None
    return None


class AuthGate:
    """Check the API key and role from the headers before anything reads the body.

    Without it FastAPI parses (and spools to disk) a multipart body before its dependencies run, so a
    client with no key could make the server receive up to 2 GiB per request before its 401. A refused
    request is answered at once with ``connection: close``; its body is never read.
    """

    def __init__(self, app: Any, authorize: Callable[..., Any]) -> None:
        self.app, self.authorize = app, authorize

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        fastapi_app = scope.get("app")
        role = route_role(getattr(fastapi_app.state, "keyed_routes", ()), scope)
        if role is not None:
            headers = dict(scope.get("headers") or [])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            try:
                self.authorize(fastapi_app.state.keys, authorization, role)
            except (ServiceError, FacelensError) as exc:  # FacelensError: e.g. an unreadable key file
                status = exc.status if isinstance(exc, ServiceError) else status_for(exc)
                try:
                    await _send_json(send, status, exc.to_dict(), getattr(exc, "headers", None))
                except Exception as gone:  # noqa: BLE001 - a malformed request's connection is already closing
                    log.debug("could not send the %d to a refused request: %s", status, gone)
                return
        await self.app(scope, receive, send)
