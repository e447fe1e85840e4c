"""Uploaded files: checked against the same limits as files on disk, and kept only while used.

Images are read into memory (at most ``FACELENS_MAX_IMAGE_BYTES`` each) and decoded by the one safe
loader (:func:`facelens.tools.images.load_image`); files that tools need as paths (enrolment photos,
recordings) go to a private temporary folder that is deleted when the request or job ends.

Those folders live in one folder per server process, ``$TMPDIR/facelens-serve-<pid>-<random>``,
removed when the process exits; a killed server cannot do that, so every server start removes the
folders of servers no longer running (:func:`remove_stale_uploads`, called by ``create_app``).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

from fastapi import UploadFile

from facelens.agent.service.limits import ServiceError
from facelens.tools import config, media

IMAGE_TYPES = ("image/",)
MEDIA_TYPES = ("audio/", "video/")
_ANY = ("application/octet-stream", "")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: ``facelens-serve-<pid>-<random>``; older versions made ``facelens-serve-<random>`` per request
PREFIX = "facelens-serve-"
_PID_DIR = re.compile(rf"^{PREFIX}(\d+)-")
_root: Path | None = None
_root_lock = threading.Lock()
log = logging.getLogger(__name__)


def safe_name(filename: str | None, default: str) -> str:
    """A file name without folders or odd characters (the client's name is only a label)."""
    base = Path(filename or "").name
    base = _SAFE.sub("_", base).strip("._")[:100]
    return base or default


def _check_type(upload: UploadFile, accepted: tuple[str, ...], what: str) -> None:
    ctype = (upload.content_type or "").split(";")[0].strip().lower()
    if ctype in _ANY or ctype.startswith(accepted):
        return
    raise ServiceError(
        415,
        "unsupported_media_type",
        f"{safe_name(upload.filename, 'the upload')} is sent as {ctype}; this route takes {what}.",
        hint="Send the file with its own type (e.g. image/jpeg) or application/octet-stream.",
    )


def _too_large(upload: UploadFile, limit: int, setting: str) -> ServiceError:
    return ServiceError(
        413,
        "too_large",
        f"{safe_name(upload.filename, 'the upload')} is over the {limit / 1e6:.0f} MB limit.",
        hint=f"Send a smaller file, or raise {setting} on the server.",
    )


async def read_image(upload: UploadFile) -> bytes:
    """The bytes of an uploaded image (415 for a non-image type, 413 over the size limit)."""
    _check_type(upload, IMAGE_TYPES, "an image (JPEG, PNG, WebP, BMP, TIFF)")
    limit = config.max_image_bytes()
    if upload.size is not None and upload.size > limit:
        raise _too_large(upload, limit, "FACELENS_MAX_IMAGE_BYTES")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise _too_large(upload, limit, "FACELENS_MAX_IMAGE_BYTES")
    return data


def process_folder() -> Path:
    """This server process's folder of uploads (made on first use, deleted at exit)."""
    global _root
    with _root_lock:
        if _root is None or not _root.is_dir():
            _root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
            atexit.register(shutil.rmtree, str(_root), True)
        return _root


def private_folder() -> Path:
    """A new folder only this user can read, for uploads that tools need as files (inside :func:`process_folder`)."""
    return Path(tempfile.mkdtemp(prefix="request-", dir=process_folder()))


def remove_stale_uploads(tmp: Path | None = None) -> list[Path]:
    """Delete the upload folders of servers that are no longer running (killed ones leave them behind);
    returns what was removed. Never touches another user's folders or a live server's."""
    from facelens.tools.atomic import pid_alive

    removed = []
    for path in Path(tmp or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        m = _PID_DIR.match(path.name)
        try:
            if not path.is_dir() or path.is_symlink() or path.stat().st_uid != os.getuid():
                continue
        except OSError:
            continue
        if m and (int(m.group(1)) == os.getpid() or pid_alive(int(m.group(1)))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log.info("removed %d upload folder(s) left by servers that were killed", len(removed))
    return removed


async def save_image(upload: UploadFile, folder: Path, index: int) -> Path:
    data = await read_image(upload)
    path = folder / f"{index:02d}-{safe_name(upload.filename, 'photo.jpg')}"
    path.write_bytes(data)
    return path


def save_media(upload: UploadFile, folder: Path) -> Path:
    """Copy an uploaded recording into ``folder`` under its own name (415 / 413 as for images)."""
    _check_type(upload, MEDIA_TYPES, "an audio or video recording")
    limit = media.max_bytes()
    if upload.size is not None and upload.size > limit:
        raise _too_large(upload, limit, "FACELENS_MAX_MEDIA_BYTES")
    path = folder / safe_name(upload.filename, "recording")
    upload.file.seek(0)
    with open(path, "wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)
    if path.stat().st_size > limit:
        raise _too_large(upload, limit, "FACELENS_MAX_MEDIA_BYTES")
    return path
