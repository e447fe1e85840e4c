"""Photo routes: analyze, ask (optionally streamed as server-sent events), identify, and the gallery."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import StreamingResponse

from facelens.agent.assistant import backends
from facelens.agent.service.access import ADMIN, EDITOR, READER, require
from facelens.agent.service.limits import ServiceError
from facelens.agent.service.uploads import private_folder, read_image, safe_name, save_image
from facelens.tools.errors import FacelensError, InputError

#: this module's place in the API (the order of the paths in /docs and the OpenAPI document)
ROUTE_ORDER = 10
router = APIRouter(prefix="/v1", tags=["photos"])
BACKENDS = backends.NAMES


def _detector(name: str | None) -> str:
    from facelens.tools import faces

    if not name:
        return faces.DEFAULT_DETECTOR
    if name not in faces.available_detectors():
        raise InputError(
            f"Unknown detector '{name}'.", hint=f"Choose one of: {', '.join(faces.available_detectors())}."
        )
    return name


def _backend(name: str | None) -> str | None:
    if name and name not in BACKENDS:
        raise InputError(f"Unknown backend '{name}'.", hint=f"Choose one of: {', '.join(BACKENDS)}.")
    return name or None


def _analyze(data: bytes, label: str, detector: str) -> dict:
    from facelens.agent.assistant.api import analyze

    scene = analyze(data, detector=detector)
    scene = scene.model_copy(update={"image": scene.image.model_copy(update={"source": label})})
    return scene.model_dump(mode="json")


@router.post("/analyze", dependencies=[Depends(require(READER))])
async def analyze(request: Request, file: UploadFile = File(...), detector: str | None = Form(None)) -> Any:
    """Every face in a photo: the JSON of ``facelens analyze --json`` (``image.source`` is the upload's name)."""
    data = await read_image(file)
    return await request.app.state.work.run(_analyze, data, safe_name(file.filename, "upload"), _detector(detector))


def _assistant(data: bytes, label: str, detector: str, backend: str | None, streaming: bool):  # type: ignore[no-untyped-def]
    from facelens.agent.assistant.api import Assistant

    assistant = Assistant([], backend=backend, detector=detector, streaming=streaming)
    assistant.box.add_image(data, label)  # answers name the photo as the client did
    return assistant


def _ask(data: bytes, label: str, question: str, detector: str, backend: str | None) -> dict:
    return _assistant(data, label, detector, backend, False).ask(question).model_dump(mode="json")


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _stream_answer(
    request: Request, data: bytes, label: str, question: str, detector: str, backend: str | None
) -> AsyncIterator[bytes]:
    """Server-sent events: ``token`` ({"text"}) as an LLM writes, then ``answer`` (the ask JSON) or ``error``."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    def work() -> None:
        def on_token(text: str) -> None:
            loop.call_soon_threadsafe(events.put_nowait, ("token", {"text": text}))

        try:
            answer = _assistant(data, label, detector, backend, True).ask(question, on_token=on_token)
            loop.call_soon_threadsafe(events.put_nowait, ("answer", answer.model_dump(mode="json")))
        except FacelensError as exc:
            loop.call_soon_threadsafe(events.put_nowait, ("error", exc.to_dict()))

    task = asyncio.ensure_future(request.app.state.work.run(work))
    try:
        while True:
            getter = asyncio.ensure_future(events.get())
            done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                event, payload = getter.result()
                yield _sse(event, payload)
                if event != "token":
                    return
                continue
            getter.cancel()
            exc = task.exception()  # the work ended without an answer event: a limit or a bug
            while not events.empty():
                event, payload = events.get_nowait()
                yield _sse(event, payload)
                if event != "token":
                    return
            body = (
                exc.to_dict()
                if isinstance(exc, (ServiceError, FacelensError))
                else {"error": "internal", "message": "Unexpected server error.", "hint": None}
            )
            yield _sse("error", body)
            return
    finally:
        if not task.done():
            task.cancel()


@router.post("/ask", dependencies=[Depends(require(READER))])
async def ask(
    request: Request,
    file: UploadFile = File(...),
    question: str = Form(...),
    backend: str | None = Form(None),
    detector: str | None = Form(None),
    stream: bool = Form(False),
) -> Any:
    """Answer a question about a photo: the JSON of ``facelens ask --json``; with ``stream=true``,
    server-sent events (``token``..., then ``answer`` with that JSON, or ``error``)."""
    data, label = await read_image(file), safe_name(file.filename, "upload")
    det, back = _detector(detector), _backend(backend)
    if not question.strip():
        raise InputError("The question is empty.", hint='Ask something, e.g. "how many people are there?"')
    if stream:
        request.app.state.work.check_room()  # a full queue is a 429 now, not an event inside a 200 stream
        return StreamingResponse(
            _stream_answer(request, data, label, question, det, back),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await request.app.state.work.run(_ask, data, label, question, det, back)


def _identify(data: bytes, label: str, detector: str) -> dict:
    from facelens.agent.assistant.api import identify

    return identify(data, label=label, detector=detector).to_dict()


@router.post("/identify", dependencies=[Depends(require(READER))])
async def identify(request: Request, file: UploadFile = File(...), detector: str | None = Form(None)) -> Any:
    """Who is in a photo: one element of ``facelens identify --json``."""
    data = await read_image(file)
    return await request.app.state.work.run(_identify, data, safe_name(file.filename, "upload"), _detector(detector))


@router.get("/gallery", dependencies=[Depends(require(READER))])
def gallery_list() -> Any:
    """Who is enrolled: ``facelens gallery list --json``."""
    from facelens.tools.identity_store import open_gallery

    return [p.to_dict() for p in open_gallery().people()]


def _enroll(name: str, paths: list, labels: list[str], face: int | None, detector: str) -> list[dict]:
    from facelens.tools import identity

    done = identity.enroll(name, paths, face=face, detector=detector)
    return [{**e.to_dict(), "image": label} for e, label in zip(done, labels)]


@router.post("/gallery/{name}", dependencies=[Depends(require(EDITOR))])
async def gallery_enroll(
    request: Request,
    name: str,
    files: list[UploadFile] = File(...),
    face: int | None = Form(None),
    detector: str | None = Form(None),
) -> Any:
    """Enrol a person from photos (all or nothing): ``facelens enroll NAME IMAGE... --json``. The photos
    are deleted as soon as their embeddings exist."""
    limit = request.app.state.limits.max_files
    if len(files) > limit:
        raise InputError(
            f"{len(files)} photos in one enrolment; the limit is {limit}.", hint="Enrol in several requests."
        )
    folder = private_folder()
    try:
        paths = [await save_image(f, folder, i) for i, f in enumerate(files)]
        labels = [safe_name(f.filename, f"photo{i + 1}") for i, f in enumerate(files)]
        return await request.app.state.work.run(_enroll, name, paths, labels, face, _detector(detector))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _erase(name: str) -> dict:
    from facelens.agent.erasure import erase_person

    return erase_person(name).to_dict()


@router.delete("/gallery/{name}", dependencies=[Depends(require(ADMIN))])
async def gallery_remove(request: Request, name: str) -> Any:
    """Erase a person everywhere (gallery, caches, exemplars, session tracks): ``facelens gallery remove NAME --json``."""
    return await request.app.state.work.run(_erase, name)
