"""facelens mcp: the tools answer through the official MCP SDK's own client, over stdio and over
streamable HTTP (which needs a facelens API key; a reader key cannot enrol)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp", reason="the MCP SDK is not installed (pip install 'facelens[mcp]')")

from facelens.agent.cli import main  # noqa: E402
from facelens.tools.models import package_data_path  # noqa: E402

READ_TOOLS = {
    "analyze_photo",
    "ask_photo",
    "identify_people",
    "list_people",
    "list_sessions",
    "search_sessions",
    "ask_sessions",
    "summarize_session",
}


def _example() -> Path:
    return Path(package_data_path("examples", "group.jpg"))


def _data(result) -> object:  # type: ignore[no-untyped-def]
    """A tool's JSON result: its structured content (lists come wrapped as {"result": [...]})."""
    assert not result.is_error, result.content
    data = result.structured_content
    return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data


def _stdio(home: Path, *args: str):  # type: ignore[no-untyped-def]
    from mcp.client.stdio import StdioServerParameters

    env = {"FACELENS_HOME": str(home), "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return StdioServerParameters(command=sys.executable, args=["-m", "facelens.agent.cli", "mcp", *args], env=env)


def test_stdio_read_only_tools_answer(facelens_home):
    from mcp import Client

    async def run() -> None:
        async with Client(_stdio(facelens_home)) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == READ_TOOLS  # no enrolment or erasure without --allow-edit
            ask = _data(
                await client.call_tool(
                    "ask_photo", {"question": "How many people are in this photo?", "image": str(_example())}
                )
            )
            assert ask["backend"] == "offline" and ask["answer"].startswith("I count 4 people")
            scene = _data(await client.call_tool("analyze_photo", {"image": str(_example())}))
            assert len(scene["faces"]) == 4
            assert "embedding" not in json.dumps(scene)  # biometric vectors never leave the process
            assert _data(await client.call_tool("list_people", {})) == []
            bad = await client.call_tool("analyze_photo", {"image": "/no/such/photo.jpg"})
            assert bad.is_error and "/no/such/photo.jpg" in bad.content[0].text
            refused = await client.call_tool("enroll_person", {"name": "Ada", "images": [str(_example())]})
            assert refused.is_error

    asyncio.run(run())


def test_stdio_allow_edit_enrols_and_erases(facelens_home, hopper, tmp_path):
    from mcp import Client

    from tests.conftest import save

    photo = save(hopper, tmp_path / "hopper.jpg")

    async def run() -> None:
        async with Client(_stdio(facelens_home, "--allow-edit")) as client:
            assert {"enroll_person", "remove_person"} <= {t.name for t in (await client.list_tools()).tools}
            done = _data(await client.call_tool("enroll_person", {"name": "Grace", "images": [str(photo)]}))
            assert len(done) == 1
            who = _data(await client.call_tool("identify_people", {"image": str(photo)}))
            assert who["faces"][0]["identity"]["name"] == "Grace"
            assert [p["name"] for p in _data(await client.call_tool("list_people", {}))] == ["Grace"]
            _data(await client.call_tool("remove_person", {"name": "Grace"}))
            assert _data(await client.call_tool("list_people", {})) == []

    asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_needs_a_key_and_an_editor_to_enrol(facelens_home, capsys, hopper):
    import httpx
    import httpx2
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    from tests.conftest import jpeg_bytes

    assert main(["apikey", "create", "reader1", "--role", "reader"]) == 0
    reader = capsys.readouterr().out.strip()
    assert main(["apikey", "create", "editor1", "--role", "editor"]) == 0
    editor = capsys.readouterr().out.strip()
    assert main(["mcp", "--http", "--host", "0.0.0.0"]) == 2  # loopback only
    port = _free_port()
    env = dict(os.environ, FACELENS_HOME=str(facelens_home))
    proc = subprocess.Popen(
        [sys.executable, "-m", "facelens.agent.cli", "mcp", "--http", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(300):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        no_key = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=5)
        assert no_key.status_code == 401 and "apikey create" in no_key.json()["hint"]
        wrong = httpx.post(url, json={}, headers={"Authorization": "Bearer flk_nope_nope"}, timeout=5)
        assert wrong.status_code == 401
        photo = base64.b64encode(jpeg_bytes(hopper)).decode()

        async def session(token: str, work) -> None:  # type: ignore[no-untyped-def]
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
                async with streamable_http_client(url, http_client=http) as (read, write):
                    async with ClientSession(read, write) as s:
                        await s.initialize()
                        await work(s)

        async def as_reader(s) -> None:  # type: ignore[no-untyped-def]
            names = {t.name for t in (await s.list_tools()).tools}
            assert READ_TOOLS | {"enroll_person", "remove_person"} == names
            ask = _data(await s.call_tool("ask_photo", {"question": "how many people?", "image_base64": photo}))
            assert ask["answer"].startswith("I count 1 ")
            path = await s.call_tool("analyze_photo", {"image": str(_example())})
            assert path.is_error and "image_base64" in path.content[0].text  # no server-side paths over HTTP
            refused = await s.call_tool("enroll_person", {"name": "Grace", "images_base64": [photo]})
            assert refused.is_error and "editor key" in refused.content[0].text
            assert _data(await s.call_tool("list_people", {})) == []

        async def as_editor(s) -> None:  # type: ignore[no-untyped-def]
            assert len(_data(await s.call_tool("enroll_person", {"name": "Grace", "images_base64": [photo]}))) == 1
            who = _data(await s.call_tool("identify_people", {"image_base64": photo}))
            assert who["faces"][0]["identity"]["name"] == "Grace"

        asyncio.run(session(reader, as_reader))
        asyncio.run(session(editor, as_editor))
    finally:
        proc.terminate()
        proc.wait(10)


def test_bad_base64_is_a_clear_error():
    from facelens.agent.service.mcp_server import Access, _photo_bytes
    from facelens.tools.errors import InputError

    for bad in ("not base64!", "", None):
        with pytest.raises(InputError):
            _photo_bytes(Access("http"), None, bad)
    with pytest.raises(InputError, match="image_base64"):
        _photo_bytes(Access("http"), "/etc/passwd", None)
