"""The identity gallery on Milvus: Milvus Lite (an embedded file) or a Milvus server / cluster.

Chosen with ``FACELENS_IDENTITY_STORE=milvus``; ``FACELENS_MILVUS_URI`` picks the server (default: the
Milvus Lite file FACELENS_HOME/gallery/milvus.db; ``http://host:19530`` for a server, with
``FACELENS_MILVUS_TOKEN``). It behaves like the FAISS gallery: open-set threshold, one spelling per
name without regard to case, removal that deletes. One row per embedding in the collection
``facelens_gallery`` (FACELENS_MILVUS_COLLECTION): auto id, name, name_key, source, added, vector.

Milvus reports squared L2 distances; they are turned into L2 here so the threshold means the same on
both stores. Milvus Lite serves one process at a time, so one process owns the file (an exclusive
lock, ``.milvus.db.owner.lock``, held from its first use until it closes or exits) and any other is
refused with :class:`StoreBusyError` instead of working on a copy of its own. Milvus Lite keeps a
deleted row's bytes in free pages of its SQLite file, so removal stops it and vacuums the file; a server purges
deleted rows at its next compaction, which is requested.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from facelens.tools import config, settings
from facelens.tools.embedders import ThresholdByEmbedding
from facelens.tools.errors import ConfigError, FacelensError, GalleryError, InputError, missing_dependency
from facelens.tools.identity_base import DIM, Entry, Person, Removal, check_embedding, open_set_match
from facelens.tools.names import check_name, look_alike, name_key, one_person
from facelens.tools.schema import IdentityMatch

log = logging.getLogger(__name__)

SERVER_SCHEMES = ("http", "https", "tcp", "grpc")
#: Milvus Lite refuses other file names (milvus_lite/server.py)
LITE_NAME = re.compile(r"^[A-Za-z0-9.\-_]{1,35}$")
BATCH = 1000  # rows per insert / per page when reading everything

_LOCK = threading.Lock()
_CLIENTS: dict[tuple[str, str], Any] = {}  # one connection per (uri, token) and process
_READY: set[tuple[str, str, str]] = set()  # (uri, token, collection) known to exist and be loaded
_OWNED: dict[str, int] = {}  # Milvus Lite file -> the open descriptor of its owner lock (this process owns it)


class StoreBusyError(GalleryError):
    """The Milvus Lite file belongs to another running facelens process."""

    kind = "store_busy"


def owner_lock_path(uri: str) -> Path:
    """The lock file that says which process owns a Milvus Lite file (beside it)."""
    path = Path(uri)
    return path.with_name(f".{path.name}.owner.lock")


def _own_lite(uri: str) -> None:
    """Become the one process that opens the Milvus Lite file ``uri`` (an exclusive lock held until
    :meth:`MilvusGallery.close` or the process ends, so a killed owner frees it).

    Two processes on one Milvus Lite file each get their own view of it (each starts its own
    server): one's enrolments and removals are invisible to the other, and the last to close wins.
    So the second one is refused.

    Raises:
        StoreBusyError: another process owns it.
    """
    import fcntl

    if uri in _OWNED:
        return
    lock = owner_lock_path(uri)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        try:
            who = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
        finally:
            os.close(fd)
        raise StoreBusyError(
            f"The Milvus Lite gallery file {uri} is open in another facelens process ({who}). Milvus Lite "
            "serves one process at a time: a second one would work on its own copy that the first never sees, "
            "so nothing was done.",
            hint="Make the change through that process (with `facelens serve`: POST /v1/people or DELETE /v1/people/NAME; "
            "the web app's Gallery page), or stop it and run this again; to share one gallery between processes "
            "use a Milvus server: FACELENS_MILVUS_URI=http://host:19530.",
        ) from None
    os.ftruncate(fd, 0)
    argv = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:3]))
    os.pwrite(fd, f"pid {os.getpid()}: {argv}".encode("utf-8", "replace")[:200], 0)
    _OWNED[uri] = fd


def _disown_lite(uri: str) -> None:
    fd = _OWNED.pop(uri, None)
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the lock


def _timeout() -> float:
    return settings.value("milvus_timeout")


def collection_name() -> str:
    """The collection holding the gallery (FACELENS_MILVUS_COLLECTION, default facelens_gallery)."""
    name = settings.value("milvus_collection")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", name):
        raise ConfigError(
            f"Bad Milvus collection name {name!r}.", hint="Use letters, digits and underscores, starting with a letter."
        )
    return name


def parse_uri(uri: str) -> tuple[str, bool]:
    """Check a Milvus URI; return (the URI to connect to, whether it is a Milvus Lite file).

    Raises:
        ConfigError: neither ``http(s)://host:port`` nor a path to a ``.db`` file Milvus Lite accepts.
    """
    hint = "Set FACELENS_MILVUS_URI to http://host:19530 (a Milvus server) or a Milvus Lite file like /path/gallery.db."
    raw = str(uri).strip()
    parsed = urlparse(raw)
    if parsed.scheme.lower() in SERVER_SCHEMES:
        if not parsed.hostname:
            raise ConfigError(f"The Milvus URI {raw!r} names no host.", hint=hint)
        try:
            parsed.port  # noqa: B018 (raises on a non-numeric port)
        except ValueError as exc:
            raise ConfigError(f"The Milvus URI {raw!r} has a bad port.", hint=hint) from exc
        return raw, False
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ConfigError(f"Unsupported Milvus URI scheme '{parsed.scheme}' in {raw!r}.", hint=hint)
    path = Path(raw).expanduser()
    if path.suffix != ".db":
        raise ConfigError(f"A Milvus Lite file must end in .db, not {raw!r}.", hint=hint)
    if not LITE_NAME.match(path.name):
        raise ConfigError(
            f"Milvus Lite cannot use the file name {path.name!r}: it allows only letters, digits, '.', '-' and '_', at most 35 characters.",
            hint=hint,
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the folder of the Milvus Lite file {path}: {exc.strerror}.", hint=hint
        ) from exc
    return str(path.resolve()), True


def _pymilvus():
    try:
        import pymilvus
    except ImportError as exc:
        raise missing_dependency("pymilvus", "milvus", "(needed for FACELENS_IDENTITY_STORE=milvus)") from exc
    for name in (
        "pymilvus",
        "pymilvus.milvus_client",
    ):  # its failures become one GalleryError; its log lines would repeat them
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return pymilvus


def _lit(text: str) -> str:
    """A Milvus filter string literal (Milvus Lite has no filter templates)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def close_all() -> None:
    """Close every Milvus connection of this process and stop its Milvus Lite servers (tests, shutdown)."""
    with _LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
        _READY.clear()
    for client in clients:
        try:
            client.close()
        except Exception as exc:
            log.debug("closing Milvus client: %s", exc)
    manager = sys.modules.get("milvus_lite.server_manager")
    if manager is not None:
        manager.server_manager_instance.release_all()
    for uri in list(_OWNED):
        _disown_lite(uri)


class MilvusGallery(ThresholdByEmbedding):
    """The identity gallery in a Milvus collection (see the module docstring).

    Args:
        threshold: open-set L2 distance threshold.
        uri: Milvus URI (default: :func:`facelens.tools.config.milvus_uri`).
        token: server token (default: FACELENS_MILVUS_TOKEN).
        collection: collection name (default: :func:`collection_name`).
    """

    kind = "milvus"

    def __init__(
        self,
        threshold: float | None = None,
        *,
        uri: str | None = None,
        token: str | None = None,
        collection: str | None = None,
    ) -> None:
        self._threshold = None if threshold is None else float(threshold)
        self.damaged: str | None = None  # Milvus keeps its own log; there is no last-good-copy fallback
        self.uri, self.lite = parse_uri(uri or config.milvus_uri())
        self.token = token if token is not None else (config.milvus_token() or "")
        self.collection = collection or collection_name()
        self.timeout = _timeout()
        _pymilvus()
        if self.lite:
            try:
                with warnings.catch_warnings():  # milvus-lite 2.5 imports the deprecated pkg_resources
                    warnings.simplefilter("ignore")
                    import milvus_lite  # noqa: F401
            except ImportError as exc:
                raise missing_dependency("milvus-lite", "milvus", "(needed for a Milvus Lite file)") from exc

    @property
    def embedding(self) -> str | None:
        """The embedding of the vectors, recorded in the collection's description ("embedding=sface";
        none = dlib, as every collection made before SFace); None when the collection is empty."""
        if not len(self):
            return None
        return self._recorded(self._client())

    def _recorded(self, client) -> str:
        text = str(
            self._call("describe the gallery collection", client.describe_collection, self.collection).get(
                "description"
            )
            or ""
        )
        return "sface" if "embedding=sface" in text else "dlib"

    def _prepare(self, embedding: str | None) -> str:
        """Check ``embedding`` against the gallery's before a write; an empty collection made for the
        other embedding is dropped and made again for this one. Returns the embedding written."""
        recorded = self.embedding
        embedding = check_embedding(recorded, embedding, self.describe())
        if recorded is None and self._recorded(self._client()) != embedding:
            self._call("drop the empty gallery collection", self._client().drop_collection, self.collection)
            with _LOCK:
                _READY.discard((self.uri, self.token, self.collection))
            self._new_embedding = embedding
        return embedding

    # --- connection ---------------------------------------------------------------------

    def describe(self) -> str:
        if self.lite:
            return f"Milvus Lite file {self.uri}"
        parsed = urlparse(self.uri)  # never show a password written into the URI
        return f"Milvus server {parsed._replace(netloc=parsed.netloc.rpartition('@')[2]).geturl()}"

    def _client(self):
        key = (self.uri, self.token)
        with _LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                from pymilvus import MilvusClient

                if self.lite:
                    _own_lite(self.uri)
                try:
                    client = MilvusClient(uri=self.uri, token=self.token, timeout=self.timeout)
                except Exception as exc:  # pymilvus raises its own and gRPC's errors
                    raise self._unreachable(exc) from exc
                _CLIENTS[key] = client
                if self.lite and Path(self.uri).exists():
                    Path(self.uri).chmod(0o600)  # biometric data: the owner's alone, like the FAISS file
        ready = (self.uri, self.token, self.collection)
        if ready not in _READY:
            self._ensure_collection(client)
            _READY.add(ready)
        return client

    def _unreachable(self, exc: Exception) -> GalleryError:
        why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if self.lite:
            return GalleryError(
                f"Cannot open the {self.describe()}: {why}. Milvus Lite serves one process at a time; another facelens (ui, serve) may hold it.",
                hint="Stop the other process, or share the gallery through a Milvus server: FACELENS_MILVUS_URI=http://host:19530.",
            )
        return GalleryError(
            f"Cannot reach the {self.describe()} within {self.timeout:g} s: {why}.",
            hint="Check that Milvus is running and FACELENS_MILVUS_URI / FACELENS_MILVUS_TOKEN are right (FACELENS_IDENTITY_STORE=faiss uses the local file).",
        )

    def _call(self, what: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """One Milvus request, with the store's timeout; its failures become a GalleryError."""
        try:
            return fn(*args, timeout=self.timeout, **kwargs)
        except FacelensError:
            raise
        except Exception as exc:
            why = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise GalleryError(
                f"Milvus could not {what} ({self.describe()}): {why}",
                hint="Run `facelens doctor` to check the identity store.",
            ) from exc

    def _ensure_collection(self, client) -> None:
        from pymilvus import DataType, MilvusClient

        if not self._call("list its collections", client.has_collection, self.collection):
            from facelens.tools import embedders

            made_for = getattr(self, "_new_embedding", None) or embedders.configured()[0]
            schema = MilvusClient.create_schema(
                auto_id=True, enable_dynamic_field=False, description=f"facelens gallery; embedding={made_for}"
            )
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("name", DataType.VARCHAR, max_length=512)  # names are at most 100 characters
            schema.add_field("name_key", DataType.VARCHAR, max_length=512)
            schema.add_field("source", DataType.VARCHAR, max_length=2048)
            schema.add_field("added", DataType.DOUBLE)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
            index = client.prepare_index_params()
            # Milvus Lite indexes FLAT only (exact); a server picks its own index (AUTOINDEX)
            index.add_index("vector", index_type="FLAT" if self.lite else "AUTOINDEX", metric_type="L2")
            try:
                self._call(
                    "create the gallery collection",
                    client.create_collection,
                    self.collection,
                    schema=schema,
                    index_params=index,
                    consistency_level="Strong",
                )
            except GalleryError:
                if not self._call("list its collections", client.has_collection, self.collection):
                    raise  # (else another process created it first)
        fields = {
            f["name"]: f
            for f in self._call("describe the gallery collection", client.describe_collection, self.collection)[
                "fields"
            ]
        }
        vector = fields.get("vector", {})
        if (
            not {"name", "name_key", "source", "added"} <= set(fields)
            or int(vector.get("params", {}).get("dim", 0)) != DIM
        ):
            raise GalleryError(
                f"The Milvus collection '{self.collection}' ({self.describe()}) is not a facelens gallery.",
                hint="Choose another collection with FACELENS_MILVUS_COLLECTION.",
            )
        self._call("load the gallery collection", client.load_collection, self.collection)

    def close(self) -> None:
        """Drop this process's connection; a Milvus Lite file's server process stops and the file is
        free for another process."""
        self._stop()
        if self.lite:
            with _LOCK:
                _disown_lite(self.uri)

    def _stop(self) -> None:
        """Drop the connection and stop Milvus Lite's server, still owning the file."""
        key = (self.uri, self.token)
        with _LOCK:
            client = _CLIENTS.pop(key, None)
            _READY.difference_update({r for r in _READY if r[:2] == key})
        if client is not None:
            try:
                client.close()
            except Exception as exc:  # closing a dead connection is not an error worth raising
                log.debug("closing Milvus client: %s", exc)
        if self.lite:
            from milvus_lite.server_manager import server_manager_instance

            if self.uri in getattr(server_manager_instance, "_servers", {}):
                server_manager_instance.release_server(self.uri)

    # --- reading ------------------------------------------------------------------------

    def _rows(self, fields: list[str], filter: str = "") -> Iterator[dict]:
        """Every row matching ``filter`` (paged: a plain query stops at 16,384 rows)."""
        client = self._client()
        it = self._call(
            "read the gallery",
            client.query_iterator,
            self.collection,
            batch_size=BATCH,
            filter=filter,
            output_fields=fields,
        )
        try:
            while True:
                page = self._call("read the gallery", lambda timeout: it.next())
                if not page:
                    return
                yield from page
        finally:
            it.close()

    def __len__(self) -> int:
        client = self._client()
        res = self._call("count the gallery", client.query, self.collection, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"]) if res else 0

    def canonical(self, name: str) -> str | None:
        """The enrolled spelling of a name (matched without regard to case), or None."""
        client = self._client()
        rows = self._call(
            "look a name up",
            client.query,
            self.collection,
            filter=f"name_key == {_lit(name_key(name))}",
            output_fields=["name"],
            limit=1,
        )
        return rows[0]["name"] if rows else None

    def people(self) -> list[Person]:
        """Everyone enrolled, by name."""
        by: dict[str, list[dict]] = {}
        for r in self._rows(["name", "source", "added"]):
            by.setdefault(r["name"], []).append(r)
        return [
            Person(
                n,
                len(rs),
                tuple(r["source"] for r in sorted(rs, key=lambda r: (r["added"], r["id"]))),
                min(r["added"] for r in rs),
            )
            for n, rs in sorted(by.items(), key=lambda kv: kv[0].casefold())
        ]

    def export(self) -> tuple[list[Entry], np.ndarray]:
        rows = sorted(self._rows(["name", "source", "added", "vector"]), key=lambda r: (r["added"], r["id"]))
        entries = [Entry(int(r["id"]), r["name"], r["source"], float(r["added"])) for r in rows]
        vectors = np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(-1, DIM)
        return entries, vectors

    def search(self, vectors: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray, list[list[str | None]]]:
        """k nearest entries per query: (L2 distances, entry ids, names); inf / -1 / None where none."""
        q = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        dist, ids = np.full((len(q), k), np.inf), np.full((len(q), k), -1, dtype=np.int64)
        names: list[list[str | None]] = [[None] * k for _ in range(len(q))]
        if not len(q):
            return dist, ids, names
        client = self._client()
        hits = self._call(
            "search the gallery",
            client.search,
            self.collection,
            data=q.tolist(),
            limit=k,
            output_fields=["name"],
            search_params={"metric_type": "L2"},
        )
        for i, row in enumerate(hits):
            for j, h in enumerate(row[:k]):
                dist[i, j] = np.sqrt(max(float(h["distance"]), 0.0))  # Milvus L2 is squared
                ids[i, j] = int(h["id"])
                names[i][j] = h["entity"]["name"]
        return dist, ids, names

    def match(self, vectors: np.ndarray) -> list[IdentityMatch | None]:
        """Open-set identification of each embedding; None for all when the gallery is empty."""
        q = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if not len(self):
            return [None] * len(q)
        dist, ids, names = self.search(q, k=1)
        return [
            open_set_match(n[0] if i >= 0 else None, d, self.threshold) for d, i, n in zip(dist[:, 0], ids[:, 0], names)
        ]

    def status(self) -> str | None:
        """None when the store answers (or is in use by its owner, another facelens), else what is wrong."""
        try:
            len(self)
        except StoreBusyError:
            return None  # sound as far as anyone can tell: its owner is using it
        except FacelensError as exc:
            return str(exc)
        return None

    def repair(self) -> str:
        problem = self.status()
        if problem:
            return f"Nothing facelens can repair in the {self.describe()}: {problem}"
        return f"The {self.describe()} is sound; Milvus keeps its own log, there is no older generation to restore."

    # --- writing ------------------------------------------------------------------------

    def _insert(self, rows: list[dict]) -> list[int]:
        client = self._client()
        ids: list[int] = []
        for start in range(0, len(rows), BATCH):
            res = self._call("add to the gallery", client.insert, self.collection, data=rows[start : start + BATCH])
            ids.extend(int(i) for i in res["ids"])
        return ids

    @staticmethod
    def _row(name: str, source: str, added: float, vector: np.ndarray) -> dict:
        return {
            "name": name,
            "name_key": name_key(name),
            "source": str(source)[:1000],
            "added": float(added),
            "vector": np.asarray(vector, dtype=np.float32).tolist(),
        }

    def add_person(
        self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None
    ) -> tuple[str, list[int]]:
        """Enrol embeddings for a person; a name matching an enrolled one without regard to case adds to them."""
        name = check_name(name)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if len(vectors) != len(sources):
            raise InputError("Each embedding needs one source label.")
        self._prepare(embedding)
        enrolled = self.canonical(name)
        if enrolled is None:
            look_alike(name, {r["name"] for r in self._rows(["name"])})
        name = enrolled or name
        now = time.time()
        return name, self._insert([self._row(name, s, now, v) for s, v in zip(sources, vectors)])

    def add(self, name: str, vectors: np.ndarray, sources: Sequence[str], *, embedding: str | None = None) -> list[int]:
        return self.add_person(name, vectors, sources, embedding=embedding)[1]

    def add_entries(self, entries: Sequence[Entry], vectors: np.ndarray, *, embedding: str | None = None) -> int:
        """Add entries keeping their names, sources and enrolment times (new ids)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        if len(entries) != len(vectors):
            raise InputError("Each embedding needs one entry.")
        self._prepare(embedding)
        spelling = {name_key(p.name): p.name for p in self.people()}
        rows = []
        for e, v in zip(entries, vectors):
            name = spelling.setdefault(
                name_key(e.name), e.name
            )  # as enrolled: names from before a rule changed move too
            rows.append(self._row(name, e.source, e.added, v))
        return len(self._insert(rows))

    def remove_person(self, name: str) -> Removal:
        """Delete every embedding and all metadata of exactly one person (see ``Gallery.remove_person``)."""
        rows = list(self._rows(["name", "vector"], filter=f"name_key == {_lit(name_key(name))}"))
        target = one_person(name, sorted({r["name"] for r in rows}))
        gone = [r for r in rows if r["name"] == target]
        self._call("delete from the gallery", self._client().delete, self.collection, ids=[int(r["id"]) for r in gone])
        self._purge()
        vectors = np.asarray([r["vector"] for r in gone], dtype=np.float32).reshape(-1, DIM)
        return Removal(name=target, embeddings=len(gone), vectors=vectors)

    def find_person(self, name: str) -> Removal:
        """What :meth:`remove_person` would delete, deleting nothing."""
        rows = list(self._rows(["name", "vector"], filter=f"name_key == {_lit(name_key(name))}"))
        target = one_person(name, sorted({r["name"] for r in rows}))
        vectors = np.asarray([r["vector"] for r in rows if r["name"] == target], dtype=np.float32).reshape(-1, DIM)
        return Removal(name=target, embeddings=len(vectors), vectors=vectors)

    def erase(self, name: str) -> Removal:
        return self.remove_person(name)

    def remove(self, name: str) -> int:
        return self.remove_person(name).embeddings

    def clear(self) -> int:
        """Delete the whole collection (it is created again, empty, on next use)."""
        n = len(self)
        self._call("drop the gallery collection", self._client().drop_collection, self.collection)
        with _LOCK:
            _READY.discard((self.uri, self.token, self.collection))
        self._purge()
        return n

    def _purge(self) -> None:
        """Make deleted rows really gone, not just hidden."""
        if not self.lite:
            try:  # a server drops deleted rows from its segments when it compacts them
                self._call("compact the gallery", self._client().compact, self.collection)
            except GalleryError as exc:
                log.warning(
                    "Milvus compaction was not started (deleted rows stay in segments until the server compacts): %s",
                    exc,
                )
            return
        # Milvus Lite keeps rows in SQLite, whose freed pages still hold the bytes: stop it, vacuum
        import sqlite3

        self._stop()  # still the owner: no other process may open the file between the delete and the vacuum
        con = sqlite3.connect(self.uri)
        try:
            con.execute("VACUUM")
        finally:
            con.close()
