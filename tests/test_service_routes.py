"""The service's route modules are found, not listed (issue 27): every ``agent/service/routes_*.py`` with
an ``APIRouter`` named ``router``, in the order of its ``ROUTE_ORDER``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from facelens.agent import service  # noqa: E402
from facelens.agent.service.app import create_app, route_modules  # noqa: E402
from facelens.agent.service.keys import KeyStore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_every_routes_module_is_served_in_its_order():
    names = route_modules()
    assert sorted(names) == sorted(p.stem for p in (ROOT / "agent" / "service").glob("routes_*.py"))
    assert names == ["routes_photo", "routes_sessions", "routes_keys"]  # the OpenAPI paths' order, as before
    app = create_app(keys=KeyStore(Path("unused-keys.json")))
    served = {(r.path, tuple(sorted(r.methods))) for r in app.state.keyed_routes}
    for name in names:
        module = sys.modules[f"facelens.agent.service.{name}"]
        assert {(r.path, tuple(sorted(r.methods))) for r in module.router.routes} <= served, name


def test_order_and_modules_without_an_order(tmp_path):
    (tmp_path / "routes_b.py").write_text("ROUTE_ORDER = 5\n", encoding="utf-8")
    (tmp_path / "routes_a.py").write_text("# no ROUTE_ORDER: after the ordered ones\n", encoding="utf-8")
    (tmp_path / "routes_c.py").write_text("ROUTE_ORDER = 1\n", encoding="utf-8")
    (tmp_path / "helpers.py").write_text("ROUTE_ORDER = 0\n", encoding="utf-8")  # not a routes_* module
    assert route_modules([str(tmp_path)]) == ["routes_c", "routes_b", "routes_a"]


def test_a_new_routes_module_is_picked_up(tmp_path, monkeypatch):
    """A new routes_*.py in the package is served, behind the API key like every other route."""
    (tmp_path / "routes_zz_probe.py").write_text(
        "from fastapi import APIRouter, Depends\n\n"
        "from facelens.agent.service.access import READER, require\n\n"
        "ROUTE_ORDER = 99\n"
        'router = APIRouter(prefix="/v1", tags=["probe"])\n\n\n'
        '@router.get("/probe", dependencies=[Depends(require(READER))])\n'
        "def probe() -> dict:\n"
        '    return {"probe": True}\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(service, "__path__", [*service.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "facelens.agent.service.routes_zz_probe", raising=False)
    try:
        assert route_modules()[-1] == "routes_zz_probe"
        keys = KeyStore(tmp_path / "apikeys.json")
        token = keys.create("reader", "reader")[1]
        app = create_app(keys=keys)
        assert list(app.openapi()["paths"])[-1] == "/v1/probe"
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/v1/probe").status_code == 401  # its role is checked by the key gate, as for the others
            r = client.get("/v1/probe", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json() == {"probe": True}
    finally:
        sys.modules.pop("facelens.agent.service.routes_zz_probe", None)
