"""The Ray side of a batch ingest (``facelens session ingest FILE... --ray [ADDRESS]``).

Each worker is a Ray actor holding one speech model; the face and emotion models are cached in its
process, so they load once per worker, not once per recording. Each recording is one task on an idle
worker; its progress goes to a small board actor that the driver reads twice a second. Workers send
back the analysis (:class:`facelens.agent.sessions.ingest.Analysis`), never touch the session store, and
get the driver's FACELENS_* settings. Ray is imported only here: ``pip install 'facelens[ray]'``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from facelens.agent.sessions import ingest as sessions
from facelens.agent.sessions.workers import Failure, default_workers, failure, forwarded_environment
from facelens.tools.errors import InputError, missing_dependency

log = logging.getLogger(__name__)


def require_ray():  # type: ignore[no-untyped-def]
    """The ``ray`` module.

    Raises:
        DependencyError: Ray is not installed (``pip install 'facelens[ray]'``).
    """
    try:
        import ray
    except ImportError as exc:
        raise missing_dependency("ray", "ray", "session ingest --ray") from exc
    return ray


class Board:
    """Progress of the recordings in flight: workers write, the driver reads and clears."""

    def __init__(self) -> None:
        self.latest: dict[int, tuple[float, str]] = {}

    def report(self, index: int, fraction: float, message: str) -> None:
        self.latest[index] = (fraction, message)

    def take(self) -> list[tuple[int, float, str]]:
        out = [(i, f, m) for i, (f, m) in self.latest.items()]
        self.latest.clear()
        return out


class Worker:
    """One Ray worker: analyses recordings one at a time with models it keeps between them."""

    def __init__(self, fps: float, detector: str, embedding: str = "dlib") -> None:
        from facelens.tools.speech import Transcriber

        self.fps, self.detector, self.embedding = fps, detector, embedding  # the driver's gallery decides the embedding
        self.transcriber = Transcriber()  # the model loads on the first recording and stays

    def analyse(self, index: int, path: str, session_id: str, data: bytes | None, board) -> object:  # type: ignore[no-untyped-def]
        """The :class:`~facelens.agent.sessions.ingest.Analysis` of one recording, or what went wrong."""
        last = [-1.0, ""]

        def progress(fraction: float, message: str) -> None:
            if fraction - last[0] >= 0.02 or message != last[1] and not message.startswith("frames"):
                last[:] = [fraction, message]
                board.report.remote(index, fraction, message)  # fire and forget

        tmp = None
        try:
            if data is not None:  # shipped from the driver: this machine may not see its files
                fd, tmp = tempfile.mkstemp(prefix="facelens-ingest-", suffix=Path(path).suffix[:16])
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            return sessions.analyse(
                tmp or path,
                session_id,
                fps=self.fps,
                detector=self.detector,
                transcriber=self.transcriber,
                progress=progress,
                name_people=False,
                source=path,
                embedding=self.embedding,
            )
        except Exception as exc:  # sent back as a value: the driver reports it and goes on
            return failure(exc)
        finally:
            if tmp:
                os.unlink(tmp)


class RayPool:
    """Workers on a local Ray (started here, stopped at :meth:`close`) or on a cluster at an address.

    Raises:
        DependencyError: Ray is not installed.
        InputError: the cluster cannot be reached.
    """

    def __init__(
        self,
        *,
        address: str | None,
        workers: int | None,
        files: int,
        fps: float,
        detector: str,
        ship: bool | None,
        embedding: str = "dlib",
    ) -> None:
        self.ray = ray = require_ray()
        local = address in (None, "", "local")
        self.ship = (not local) if ship is None else ship
        self.started_here, self.actors, self.board = False, [], None
        self._embedding = embedding  # the driver's gallery decides how every worker tracks faces
        try:
            self._start(ray, local, address, workers, files, fps, detector)
        except BaseException:
            self.close()
            raise

    def _start(
        self, ray, local: bool, address: str | None, workers: int | None, files: int, fps: float, detector: str
    ) -> None:  # type: ignore[no-untyped-def]
        if not ray.is_initialized():
            try:
                if local:
                    # Ray's notes on a private local instance (its auth token, ...) are noise in this command's output
                    quiet = logging.getLogger().getEffectiveLevel() > logging.INFO
                    if quiet:
                        logging.getLogger("ray").setLevel(logging.ERROR)
                    ray.init(
                        num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False
                    )
                else:
                    ray.init(address=address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise InputError(
                    f"Cannot connect to the Ray cluster at {address!r}: {exc}",
                    hint="Start one with 'ray start --head', pass its address (auto, or ray://HOST:10001), or drop the address for a local Ray.",
                ) from exc
            self.started_here = True
        cpus = float(ray.cluster_resources().get("CPU", 1))
        self.workers = min(workers or default_workers(cpus, files), files)
        # each worker asks for its part of the CPUs and sizes its speech model's threads to it: on one
        # machine the CPUs are shared out (1 worker of 2 CPUs gets both); across machines a worker asks
        # for one CPU, which always fits a node; more workers than CPUs share them
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        share = cpus / self.workers
        share = float(int(share)) if share >= 1 else round(share, 4)  # Ray takes whole CPUs above one
        if nodes > 1:
            share = min(1.0, share)
        forwarded = forwarded_environment()
        forwarded.setdefault("FACELENS_THREADS", str(max(1, int(share))))
        env = {"env_vars": forwarded}
        self.board = ray.remote(num_cpus=0)(Board).remote()
        remote_worker = ray.remote(Worker)
        self.actors = [
            remote_worker.options(num_cpus=share, runtime_env=env).remote(fps, detector, self._embedding)
            for _ in range(self.workers)
        ]
        self._remote_worker, self._share, self._env, self._fps, self._detector = (
            remote_worker,
            share,
            env,
            fps,
            detector,
        )

    def _new_actor(self):  # type: ignore[no-untyped-def]
        return self._remote_worker.options(num_cpus=self._share, runtime_env=self._env).remote(
            self._fps, self._detector, self._embedding
        )

    def run(self, jobs: list, events) -> Iterator[tuple[object, object, float]]:  # type: ignore[no-untyped-def]
        """Yield (job, analysis or failure, start time) as recordings finish, in any order."""
        ray = self.ray
        pending, idle = deque(jobs), list(self.actors)
        flight: dict = {}
        while pending or flight:
            while pending and idle:
                job, actor = pending.popleft(), idle.pop()
                data = ray.put(Path(job.path).read_bytes()) if self.ship else None
                flight[actor.analyse.remote(job.index, job.path, job.session_id, data, self.board)] = (
                    job,
                    actor,
                    time.perf_counter(),
                )
                events.started(job.index, job.path, job.duration)
            done, _ = ray.wait(list(flight), num_returns=1, timeout=0.5)
            for index, fraction, message in ray.get(self.board.take.remote()):
                events.progress(index, fraction, message)
            for ref in done:
                job, actor, began = flight.pop(ref)
                try:
                    out = ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # the worker process died (killed, out of memory)
                    out = Failure(
                        "worker",
                        f"The Ray worker analysing it died ({type(exc).__name__}).",
                        "Run it again; if it keeps failing, ingest it alone without --ray.",
                    )
                    self.actors.remove(actor)
                    actor = self._new_actor()
                    self.actors.append(actor)
                except ray.exceptions.RayError as exc:
                    out = failure(exc)
                idle.append(actor)
                yield job, out, began

    def close(self) -> None:
        """Stop the workers (mid-recording on Ctrl-C) and a Ray started here."""
        for actor in [*self.actors, *([self.board] if self.board is not None else [])]:
            try:
                self.ray.kill(actor)
            except Exception:  # already gone
                pass
        self.actors = []
        if self.started_here:
            self.ray.shutdown()
            self.started_here = False
