"""Uploaded files: checked against the same limits as files on disk, and kept only while used.

Images are read into memory (at most ``FACELENS_MAX_IMAGE_BYTES`` each) and decoded by the one safe
loader (:func:`facelens.tools.images.load_image`); files that tools need as paths (enrolment photos,
recordings) go to a private temporary folder that is deleted when the request or job ends.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from fastapi import UploadFile

from facelens.agent.service.limits import ServiceError
from facelens.tools import config, media

IMAGE_TYPES = ("image/",)
MEDIA_TYPES = ("audio/", "video/")
_ANY = ("application/octet-stream", "")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(filename: str | None, default: str) -> str:
    """A file name without folders or odd characters (the client's name is only a label)."""
    base = Path(filename or "").name
    base = _SAFE.sub("_", base).strip("._")[:100]
    return base or default


def _check_type(upload: UploadFile, accepted: tuple[str, ...], what: str) -> None:
    ctype = (upload.content_type or "").split(";")[0].strip().lower()
    if ctype in _ANY or ctype.startswith(accepted):
        return
    raise ServiceError(415, "unsupported_media_type", f"{safe_name(upload.filename, 'the upload')} is sent as {ctype}; "
                       f"this route takes {what}.", hint="Send the file with its own type (e.g. image/jpeg) or application/octet-stream.")


def _too_large(upload: UploadFile, limit: int, setting: str) -> ServiceError:
    return ServiceError(413, "too_large", f"{safe_name(upload.filename, 'the upload')} is over the {limit / 1e6:.0f} MB limit.",
                        hint=f"Send a smaller file, or raise {setting} on the server.")


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


def private_folder() -> Path:
    """A new folder only this user can read, for uploads that tools need as files."""
    return Path(tempfile.mkdtemp(prefix="facelens-serve-"))


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
