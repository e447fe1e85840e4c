"""Session routes: upload a recording (a background ingest job), follow the job, read, export, ask."""

from __future__ import annotations

import shutil
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from facelens.agent.service.access import EDITOR, READER, require
from facelens.agent.service.jobs import Job, progress_of
from facelens.agent.service.limits import ServiceError, queue_full
from facelens.agent.service.uploads import private_folder, save_media
from facelens.tools.errors import InputError

#: this module's place in the API (the order of the paths in /docs and the OpenAPI document)
ROUTE_ORDER = 20
router = APIRouter(prefix="/v1", tags=["sessions"])


def _check_upload(path: Any, session_id: str | None, fps: float) -> None:
    """Refuse a bad recording or id now (422), not later in a failed job."""
    from facelens.agent.sessions import store
    from facelens.tools import media

    if not 0.1 <= fps <= 30:
        raise InputError(f"fps must be between 0.1 and 30, not {fps}.")
    if session_id:
        store.check_id(session_id)
    media.probe(path)


@router.post("/sessions", status_code=202, dependencies=[Depends(require(EDITOR))])
async def upload_session(
    request: Request,
    file: UploadFile = File(...),
    id: str | None = Form(None),
    fps: float = Form(2.0),
    replace: bool = Form(False),
) -> Any:
    """Ingest a recording in the background: 202 ``{"job": ID}``; follow it at ``GET /v1/jobs/{ID}``.
    The job's result is the JSON of ``facelens session ingest --json``."""
    import anyio.to_thread

    folder = private_folder()
    try:
        path = await anyio.to_thread.run_sync(save_media, file, folder)
        await anyio.to_thread.run_sync(_check_upload, path, id, fps)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def work(job: Job) -> dict:
        from facelens.agent.sessions import ingest as sessions

        return sessions.ingest(
            path, id or None, fps=fps, replace=replace, progress=progress_of(job), source=path.name
        ).to_output()

    job = request.app.state.jobs.submit("session_ingest", path.name, work, folder)
    if job is None:
        shutil.rmtree(folder, ignore_errors=True)
        raise queue_full(request.app.state.limits, "ingest job")
    return JSONResponse({"job": job.id}, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@router.get("/jobs/{job_id}", dependencies=[Depends(require(READER))])
def job_status(request: Request, job_id: str) -> Any:
    """A job's ``status`` (queued | running | done | failed), ``progress`` (0..1), ``result`` or ``error``."""
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise ServiceError(
            404, "not_found", f"No job '{job_id}'.", hint="Jobs live in the server's memory; a restart forgets them."
        )
    return job.to_dict()


@router.get("/sessions", dependencies=[Depends(require(READER))])
def sessions_list() -> Any:
    """Stored sessions: ``facelens session list --json``."""
    from facelens.agent.assistant.api import session_listing
    from facelens.agent.sessions import store

    return [session_listing(r) for r in store.load_all()]


@router.get("/sessions/{session_id}", dependencies=[Depends(require(READER))])
def session_show(session_id: str) -> Any:
    """One session: ``facelens session show ID --json``."""
    from facelens.agent.sessions import store

    return store.load(session_id).to_output()


@router.get("/sessions/{session_id}/export", dependencies=[Depends(require(READER))])
def session_export(session_id: str, format: str = Query("json", pattern="^(csv|json)$")) -> Response:
    """The whole session as JSON or CSV: ``facelens session export ID --format csv|json``."""
    from facelens.agent.sessions.report import export

    text = export(session_id, format)
    if format == "csv":
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{session_id}.csv"'},
        )
    return Response(text, media_type="application/json")


def _session_ask(question: str, session: str | None, backend: str | None) -> dict:
    from facelens.agent.sessions.query import ask

    return ask(question, session, backend).model_dump(mode="json")


@router.post("/sessions/ask", dependencies=[Depends(require(READER))])
async def sessions_ask(
    request: Request, question: str = Form(...), session: str | None = Form(None), backend: str | None = Form(None)
) -> Any:
    """A question about stored sessions: ``facelens session ask QUESTION [--session ID] --json``."""
    if backend and backend not in ("offline", "openai"):
        raise InputError(f"Unknown backend '{backend}'.", hint="Choose one of: offline, openai.")
    return await request.app.state.work.run(_session_ask, question, session, backend)
