"""Admin routes for API keys (the same store as ``facelens apikey``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request

from facelens.agent.service.access import ADMIN, require

#: this module's place in the API (the order of the paths in /docs and the OpenAPI document)
ROUTE_ORDER = 30
router = APIRouter(prefix="/v1", tags=["keys"])


@router.get("/keys", dependencies=[Depends(require(ADMIN))])
def keys_list(request: Request) -> Any:
    """The keys' names, roles and public ids (never the keys)."""
    return [k.to_dict() for k in request.app.state.keys.list()]


@router.post("/keys", status_code=201, dependencies=[Depends(require(ADMIN))])
def keys_create(request: Request, name: str = Form(...), role: str = Form(...)) -> Any:
    """Create a key; the response is the only time the key is shown."""
    key, token = request.app.state.keys.create(name, role)
    return {**key.to_dict(), "key": token}


@router.delete("/keys/{name}", dependencies=[Depends(require(ADMIN))])
def keys_revoke(request: Request, name: str) -> Any:
    """Revoke a key; requests with it get 401 from now on."""
    return request.app.state.keys.revoke(name).to_dict()
