"""Crash-safe files: the one mechanism every facelens store writes with.

- :func:`write_sealed` writes a temp file next to the target, fsyncs it, and renames it over the
  target in one atomic step (then fsyncs the folder). The bytes end with a seal, a SHA-256 footer,
  so a truncated or altered file is detected when it is read (:func:`read_sealed`).
- :class:`Generations` keeps the last good generation of a store file (``NAME.prev``, a hard link
  to the previous file, so keeping it costs no copy). Reading a damaged file falls back to it with a
  warning; :meth:`Generations.repair` restores it. Erasure rewrites both generations, so a removed
  person's data does not survive in the previous one.
- Temp files are named ``.NAME.PID.XXXX.tmp``; :func:`stale_temps` finds the ones whose writer is
  no longer running (a killed process), and :meth:`Generations.clean` deletes them at the next open.

Files written before seals existed have no footer; they are accepted if the caller can parse them.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from facelens.tools import settings
from facelens.tools.errors import FacelensError, GalleryError

log = logging.getLogger(__name__)

T = TypeVar("T")
_SEAL = re.compile(rb"\n#facelens-sha256:([0-9a-f]{64})\n\Z")
_SEAL_LEN = len(b"\n#facelens-sha256:") + 64 + 1


class DamagedError(GalleryError):
    """A store file is truncated, altered or unreadable."""

    kind = "damaged_store"


class StorageError(FacelensError):
    """The disk refused a write: full, over quota, read-only or failing. Nothing was changed."""

    kind = "storage"


#: OS errors that mean "the disk cannot take this write" rather than a bug
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}


def storage_error(exc: BaseException, what: str = "facelens") -> StorageError | None:
    """The one-line error for a write the disk refused (an OSError of :data:`DISK_ERRNOS`, or SQLite's
    "database or disk is full" / "disk I/O error"), else None. Names no path: messages may reach
    REST clients."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError) and exc.errno in DISK_ERRNOS:
        why = os.strerror(exc.errno)
    elif type(exc).__name__ in ("OperationalError", "DiskFull") and any(
        t in str(exc).lower() for t in ("disk is full", "disk i/o error", "readonly database", "no space")
    ):
        why = str(exc)
    else:
        return None
    if (exc.errno == errno.EROFS) if isinstance(exc, OSError) else "readonly" in why:
        hint = "Check that FACELENS_HOME (facelens home) and the temp folder are writable by you, then try again."
    else:
        hint = "Free some disk space (or set FACELENS_HOME to a disk with room), then try again; what was stored before is intact."
    return StorageError(f"{what} could not write its data: {why}. Nothing was changed.", hint=hint)


def seal(data: bytes) -> bytes:
    """``data`` followed by its SHA-256 footer."""
    return data + b"\n#facelens-sha256:" + hashlib.sha256(data).hexdigest().encode() + b"\n"


def unseal(raw: bytes, label: str = "the file") -> tuple[bytes, bool]:
    """(payload, sealed): the bytes without their footer; DamagedError when the footer disagrees.

    Bytes without a footer are returned whole with ``sealed=False`` (files from older versions, or
    a file cut short: the caller's parser decides).
    """
    m = _SEAL.search(raw[-_SEAL_LEN:]) if len(raw) >= _SEAL_LEN else None
    if m is None:
        return raw, False
    payload = raw[:-_SEAL_LEN]
    if hashlib.sha256(payload).hexdigest().encode() != m.group(1):
        raise DamagedError(f"{label} is damaged (its checksum does not match its contents).")
    return payload, True


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_sealed(path: str | Path, data: bytes, *, sealed: bool = True, mode: int = 0o600) -> None:
    """Write ``data`` (sealed with its checksum unless ``sealed=False``) to ``path`` atomically."""
    path = Path(path)
    try:
        _fault_point(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    except OSError as exc:
        raise (storage_error(exc, f"facelens ({path.name})") or exc) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(seal(data) if sealed else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        mapped = storage_error(exc, f"facelens ({path.name})")
        if mapped is not None:
            raise mapped from exc
        raise
    _fsync_dir(path.parent)


#: fault injection for the crash-safety tests (tests/test_security_stores.py): with
#: FACELENS_FAULT_KILL_AT=N the process kills itself (SIGKILL) at its Nth atomic write, before the
#: write; FACELENS_FAULT_COUNT=FILE appends one line per write to FILE (to learn how many there are).
#: FACELENS_FAULT_ENOSPC=N raises OSError(ENOSPC) at the Nth write instead. Unset: nothing happens.
_WRITES = 0


def _fault_point(path: Path) -> None:
    global _WRITES
    kill_at, count_to, enospc = (settings.value(k) for k in ("fault_kill_at", "fault_count", "fault_enospc"))
    if not (kill_at or count_to or enospc):
        return
    _WRITES += 1
    if count_to:
        with open(count_to, "a", encoding="utf-8") as fh:
            fh.write(f"{_WRITES} {path.name}\n")
    if kill_at and int(kill_at) == _WRITES:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if enospc and int(enospc) == _WRITES:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def read_sealed(path: str | Path) -> bytes:
    """The payload of a sealed file. Raises DamagedError when the checksum disagrees, OSError when unreadable."""
    path = Path(path)
    return unseal(path.read_bytes(), str(path))[0]


def pid_alive(pid: int) -> bool:
    """Is process ``pid`` running on this machine? (ours, or another user's we may not signal)"""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True


def stale_temps(folder: Path, name: str | None = None, *, max_age_s: float = 3600.0) -> list[Path]:
    """Temp files of :func:`write_sealed` in ``folder`` (for one target ``name``, or all) whose
    writer is gone: its process id (in the name) no longer runs, or, without one, older than ``max_age_s``."""
    import time

    pattern = f".{name}.*.tmp" if name else ".*.tmp"
    out = []
    for p in folder.glob(pattern):
        if not p.is_file():
            continue
        m = re.search(r"\.(\d+)\.[^.]*\.tmp$", p.name)
        try:
            stale = not pid_alive(int(m.group(1))) if m else time.time() - p.stat().st_mtime > max_age_s
        except (OSError, ValueError):
            continue
        if stale:
            out.append(p)
    return out


def remove_files(paths: list[Path]) -> int:
    n = 0
    for p in paths:
        try:
            p.unlink()
            n += 1
        except FileNotFoundError:
            pass
    return n


@dataclass(frozen=True)
class Loaded:
    """What :meth:`Generations.load` read."""

    value: object  # the parsed contents (None when the store does not exist yet)
    fallback: bool = False  # True: the current file is damaged and this is the last good generation
    problem: str | None = None  # what is wrong with the current file


class Generations:
    """One store file with its last good generation beside it.

    Args:
        path: the store file.
        what: how messages name the store ("the gallery").
        repair_hint: what the user runs to repair it ("facelens gallery repair").
    """

    def __init__(self, path: str | Path, what: str, repair_hint: str) -> None:
        self.path = Path(path)
        self.prev = self.path.with_name(self.path.name + ".prev")
        self.what = what
        self.repair_hint = repair_hint

    def _parse(self, path: Path, parse: Callable[[bytes], T]) -> T:
        try:
            payload = read_sealed(path)
            return parse(payload)
        except DamagedError:
            raise
        except Exception as exc:  # any parser error on our own file means the file is damaged
            raise DamagedError(f"{path} is damaged ({type(exc).__name__}: {exc}).") from exc

    def load(self, parse: Callable[[bytes], T]) -> Loaded:
        """Parse the current file; if it is damaged, the last good generation (with ``fallback``).

        Raises:
            DamagedError: the current file is damaged and there is no good previous generation.
        """
        if not self.path.exists():
            return Loaded(None)
        try:
            return Loaded(self._parse(self.path, parse))
        except (DamagedError, OSError) as exc:
            problem = str(exc)
        if self.prev.exists():
            try:
                value = self._parse(self.prev, parse)
            except (DamagedError, OSError):
                value = None
            if value is not None:
                log.warning(
                    "%s: %s Using the last good generation (%s); run `%s` to restore it.",
                    self.what,
                    problem,
                    self.prev.name,
                    self.repair_hint,
                )
                return Loaded(value, fallback=True, problem=problem)
        raise DamagedError(
            f"The file of {self.what} is damaged and no good earlier generation is left: {problem}",
            hint=f"Run `{self.repair_hint}` to start it empty (the damaged file is deleted).",
        )

    def load_previous(self, parse: Callable[[bytes], T]) -> T | None:
        """The previous generation parsed; None when there is none. Raises DamagedError when it is damaged."""
        if not self.prev.exists():
            return None
        try:
            return self._parse(self.prev, parse)
        except OSError as exc:
            raise DamagedError(f"{self.prev.name} cannot be read ({exc.strerror or exc}).") from exc

    def check_writable(self, parse: Callable[[bytes], object]) -> None:
        """Refuse to build a new generation on top of a damaged one (the caller holds the lock)."""
        loaded = self.load(parse)
        if loaded.fallback:
            raise DamagedError(
                f"Nothing was changed: {loaded.problem}",
                hint=f"Run `{self.repair_hint}` to restore the last good generation first.",
            )

    def commit(self, data: bytes, *, keep_previous: bool = True) -> None:
        """Write a new generation atomically (the caller holds the store's lock).

        With ``keep_previous`` the current file becomes the previous generation (a hard link, no
        copy); without it (erasure) both generations hold the new data, in two separate files so
        that damage to one leaves the other.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if keep_previous and self.path.exists():
            self._link(self.path, self.prev)
        elif keep_previous:  # the file was deleted by hand: an old generation must not outlive it
            remove_files([self.prev])
        if not keep_previous:
            write_sealed(self.prev, data)
        write_sealed(self.path, data)
        remove_files(stale_temps(self.path.parent, self.path.name) + stale_temps(self.path.parent, self.prev.name))

    def _link(self, src: Path, dst: Path) -> None:
        """Make ``dst`` hold ``src``'s bytes, atomically: a hard link renamed into place, or a copy."""
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}.link.tmp")  # PID before the last part: see stale_temps
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
            os.replace(tmp, dst)
            tmp.unlink(missing_ok=True)  # renaming a link onto the same file is a no-op that leaves it
        except OSError:
            tmp.unlink(missing_ok=True)
            write_sealed(dst, read_sealed(src))
        _fsync_dir(dst.parent)

    def clean(self) -> int:
        """Delete temp files a killed writer left (call under the store's lock). Returns how many."""
        if not self.path.parent.is_dir():
            return 0
        n = remove_files(stale_temps(self.path.parent, self.path.name) + stale_temps(self.path.parent, self.prev.name))
        if not self.path.exists():  # the store was deleted (by hand): its old generation goes too
            n += remove_files([self.prev])
        if n:
            log.info("%s: removed %d temp file(s) left by an interrupted write", self.what, n)
        return n

    def repair(self, parse: Callable[[bytes], object]) -> str:
        """Restore the last good generation over a damaged file, or start empty. Returns what was done."""
        self.clean()
        if not self.path.exists():
            remove_files([self.prev])
            return f"{self.what}: nothing to repair (no file yet)."
        try:
            self._parse(self.path, parse)
            if self.prev.exists():
                try:
                    self._parse(self.prev, parse)
                except (DamagedError, OSError) as exc:  # the current file is sound: it becomes the previous one too
                    self.commit(read_sealed(self.path), keep_previous=False)
                    return (
                        f"{self.what}: its previous generation ({self.prev.name}) was damaged ({exc}); "
                        "it was replaced by a copy of the current file, which is sound."
                    )
            return f"{self.what}: the file and its previous generation are sound; nothing to repair."
        except (DamagedError, OSError) as exc:
            problem = str(exc)
        good = None
        if self.prev.exists():
            try:
                self._parse(self.prev, parse)
                good = read_sealed(self.prev)
            except (DamagedError, OSError):
                good = None
        if good is not None:
            self.path.unlink(missing_ok=True)
            self.commit(good, keep_previous=False)
            return f"{self.what}: {problem} Restored the last good generation; changes made after it are lost."
        remove_files([self.path, self.prev])
        return f"{self.what}: {problem} No good generation was left, so it was deleted and starts empty."

    def status(self, parse: Callable[[bytes], object]) -> str | None:
        """None when both generations are sound (or absent), else what is wrong with them: a damaged
        previous generation matters too, since it is what the next damage would fall back to."""
        problems = []
        for which, path in (("", self.path), ("previous generation ", self.prev)):
            if not path.exists():
                continue
            try:
                self._parse(path, parse)
            except (DamagedError, OSError) as exc:
                problems.append(f"{which}{exc}" if which else str(exc))
        return "; ".join(problems) or None
