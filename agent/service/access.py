"""Who may call which route of ``facelens serve``: the three roles, the key check, and the dependency
each route declares (:func:`require`). The routes and the app both import this module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request

from facelens.agent.service.keys import ROLES, ApiKey, KeyStore, role_allows
from facelens.agent.service.limits import ServiceError

#: who may do what (each role includes the ones before it)
READER, EDITOR, ADMIN = ROLES


def authorize(keys: KeyStore, authorization: str, role: str) -> ApiKey:
    """The key in an ``Authorization`` header value, if it has ``role`` (or a stronger one).

    Raises:
        ServiceError: 401 without a key or with an unknown one, 403 for a weaker role.
    """
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(
            401,
            "unauthorized",
            "An API key is required.",
            hint="Send 'Authorization: Bearer KEY' (create one with: facelens apikey create NAME --role reader).",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = keys.verify(token)
    if key is None:
        raise ServiceError(
            401,
            "unauthorized",
            "The API key is unknown or revoked.",
            hint="Ask the server's admin for a key.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not role_allows(key.role, role):
        raise ServiceError(
            403,
            "forbidden",
            f"The key '{key.name}' has the role {key.role}; this needs {role}.",
            hint="Use a key with that role.",
        )
    return key


def require(role: str) -> Callable[..., Any]:
    """A dependency: the request's key must have ``role`` (or a stronger one).

    :class:`~facelens.agent.service.limits.AuthGate` checks the same before the body is read; this
    check stays for the OpenAPI schema and for apps built without the gate.
    """

    def check(request: Request) -> ApiKey:
        return authorize(request.app.state.keys, request.headers.get("authorization", ""), role)

    check.facelens_role = role  # type: ignore[attr-defined]  # read by AuthGate
    return check
