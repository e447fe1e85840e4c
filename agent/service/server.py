"""The HTTP server under ``facelens serve``: uvicorn with bounded request heads and logs without secrets.

uvicorn's default parser (httptools, when installed) accepts request heads of any size, so three
unfinished 200 MB heads took a server from 133 MB to 763 MB. Here uvicorn runs its h11 parser with
a head limit (:data:`MAX_HEAD_BYTES`; a bigger head is answered 400 and the connection closed), and a
connection that has not sent a complete request head within :data:`HEAD_TIMEOUT_S` of opening (or
of its previous response) is closed, so slow clients cannot hold the connection slots either.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger(__name__)

#: the largest request line + headers accepted (uvicorn's h11 default is 16 KiB; a bearer key needs < 100 B)
MAX_HEAD_BYTES = 64 * 1024
#: seconds a connection may take to send a complete request head
HEAD_TIMEOUT_S = 10.0
#: open connections beyond the work queue's bound (each costs at most MAX_HEAD_BYTES before its head is complete)
SPARE_CONNECTIONS = 256

_SECRET_PARAM = re.compile(
    r"(?i)\b((?:api[_-]?)?key|token|access_token|secret|password|passwd|auth(?:orization)?|bearer)=([^&\s\"']+)"
)
_KEY_TOKEN = re.compile(r"\b(flk_[0-9a-f]+_)[A-Za-z0-9_\-]+")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9_.\-~+/=]+")


def redact(text: str) -> str:
    """``text`` with secrets replaced by ``***``: query parameters named like secrets, facelens API keys
    (their public id is kept), and bearer tokens."""
    text = _BEARER.sub(lambda m: f"{m.group(1)}***", text)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", text)
    return _KEY_TOKEN.sub(lambda m: f"{m.group(1)}***", text)


class RedactSecrets(logging.Filter):
    """A log filter that redacts every string argument and the message (keeps the arguments' shape:
    uvicorn's access formatter unpacks them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_log_redaction() -> None:
    """Redact secrets from uvicorn's access and error logs and from facelens's own."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn", "facelens"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
        for handler in logger.handlers:
            if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                handler.addFilter(RedactSecrets())


def protocol_class() -> type:
    """uvicorn's h11 protocol with a deadline for each request head."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class BoundedH11Protocol(H11Protocol):
        _head_timer: Any = None

        def _arm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(HEAD_TIMEOUT_S, self._head_overdue)

        def _head_overdue(self) -> None:
            waiting = self.cycle is None or self.cycle.response_complete
            if waiting and not self.transport.is_closing():
                log.info("closing a connection that sent no complete request head in %.0f s", HEAD_TIMEOUT_S)
                self.transport.close()

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            super().connection_lost(exc)

    return BoundedH11Protocol


def config(app: Any, host: str, port: int, *, queue_bound: int, verbose: bool = False) -> Any:
    """The uvicorn configuration of ``facelens serve`` (also used by the load test and the benchmark)."""
    import uvicorn

    cfg = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        log_level="info" if verbose else "warning",
        timeout_keep_alive=5,
        limit_concurrency=queue_bound + SPARE_CONNECTIONS,
    )
    install_log_redaction()  # after uvicorn.Config has configured its loggers
    return cfg


def run(app: Any, host: str, port: int, *, queue_bound: int, verbose: bool = False) -> None:
    """Serve ``app`` until interrupted."""
    import uvicorn

    uvicorn.Server(config(app, host, port, queue_bound=queue_bound, verbose=verbose)).run()


__all__ = ["MAX_HEAD_BYTES", "HEAD_TIMEOUT_S", "redact", "RedactSecrets", "config", "run"]
