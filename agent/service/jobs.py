"""Background jobs of the service: a session upload is ingested by one worker thread, in order.

A job is ``queued``, ``running``, then ``done`` (with the ingest's JSON) or ``failed`` (with the
error's JSON). The waiting line is bounded (a full one answers 429). Jobs live in the server's
memory: a restart forgets them, while the sessions they stored stay in the session store. The
uploaded file is deleted when its job ends, whatever the outcome.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facelens.tools.errors import FacelensError

log = logging.getLogger(__name__)

#: finished jobs kept for GET /v1/jobs/{id}; the oldest are forgotten past this
KEEP_FINISHED = 500


@dataclass
class Job:
    """One background ingest."""

    id: str
    kind: str  # "session_ingest"
    file: str  # the uploaded file's name
    status: str = "queued"  # queued | running | done | failed
    progress: float = 0.0  # 0..1
    message: str = ""  # what it is doing now
    result: dict | None = None  # the ingest's JSON (status done)
    error: dict | None = None  # {"error", "message", "hint"} (status failed)
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def to_dict(self) -> dict:
        return {
            "job": self.id,
            "kind": self.kind,
            "file": self.file,
            "status": self.status,
            "progress": round(self.progress, 3),
            "message": self.message,
            "result": self.result,
            "error": self.error,
        }


class JobRunner:
    """A bounded line of ingest jobs and the one thread that works through it."""

    def __init__(self, max_waiting: int) -> None:
        self._queue: queue.Queue[tuple[Job, Callable[[Job], dict], Path]] = queue.Queue(maxsize=max_waiting)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, kind: str, file: str, work: Callable[[Job], dict], folder: Path) -> Job | None:
        """Queue ``work(job)``; ``folder`` (the upload) is deleted when it ends. None when the line is full."""
        job = Job(uuid.uuid4().hex[:16], kind, file)
        try:
            self._queue.put_nowait((job, work, folder))
        except queue.Full:
            return None
        with self._lock:
            self._jobs[job.id] = job
            self._start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="facelens-jobs", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while True:
            job, work, folder = self._queue.get()
            job.status = "running"
            try:
                job.result = work(job)
                job.status, job.progress, job.message = "done", 1.0, "done"
            except FacelensError as exc:
                job.status, job.error = "failed", exc.to_dict()
            except Exception as exc:  # the job fails, the worker lives on
                log.exception("job %s failed", job.id)
                job.status, job.error = (
                    "failed",
                    {"error": "internal", "message": f"unexpected error: {type(exc).__name__}", "hint": None},
                )
            finally:
                job.finished = time.time()
                shutil.rmtree(folder, ignore_errors=True)
                self._forget_old()
                self._queue.task_done()

    def _forget_old(self) -> None:
        with self._lock:
            done = [j for j in self._jobs.values() if j.finished is not None]
            for j in sorted(done, key=lambda j: j.finished or 0)[: max(0, len(done) - KEEP_FINISHED)]:
                del self._jobs[j.id]

    def wait_idle(self, timeout: float = 60) -> bool:
        """Block until no job is queued or running (tests, shutdown). True when idle."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                busy = any(j.status in ("queued", "running") for j in self._jobs.values())
            if not busy:
                return True
            time.sleep(0.05)
        return False


def progress_of(job: Job) -> Callable[[float, str], Any]:
    """The ingest's progress callback, writing into the job."""

    def report(fraction: float, message: str) -> None:
        job.progress, job.message = max(0.0, min(1.0, fraction)), message

    return report
