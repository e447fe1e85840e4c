"""Safe image input: every image facelens reads goes through :func:`load_image`.

Accepts JPEG, PNG, WebP, BMP and TIFF; applies the EXIF orientation; turns grey, palette, 16-bit
and RGBA images into 8-bit RGB; refuses empty, truncated, corrupt, non-image and oversized files
(file size and pixel count, so a decompression bomb is rejected before it is decoded), and images too
small or too thin for any face (:data:`MIN_SIDE`, :data:`MAX_ASPECT`) before any model sees them:
a 1x1 or 4000x1 image used to break the detectors' native code.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facelens.tools import config
from facelens.tools.errors import ImageError

#: Pillow format names we accept
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "MPO")
_SUPPORTED = "JPEG, PNG, WebP, BMP or TIFF"
#: the shortest side accepted, in pixels: no detector finds a face in less, and the native code of
#: MediaPipe and OpenCV fails on a few pixels (a 1x1 image broke MediaPipe's graph)
MIN_SIDE = 16
#: the longest side over the shortest: a thinner strip shrinks to zero pixels in a detector's resize
MAX_ASPECT = 20.0


@dataclass(frozen=True)
class LoadedImage:
    """A decoded, upright RGB image and where it came from."""

    rgb: np.ndarray = field(repr=False)  # H x W x 3 uint8, upright (EXIF orientation applied)
    sha256: str  # hash of the file bytes: the cache key for everything computed from this image
    format: str  # Pillow format name, e.g. "JPEG"
    source: str | None = None  # file path, or None for in-memory bytes
    exif_rotated: bool = False  # True when an EXIF orientation tag was applied

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _read_bytes(source: str | Path | bytes, max_bytes: int) -> tuple[bytes, str | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = None
    else:
        path = Path(source).expanduser()
        name = str(path)
        if not path.exists():
            raise ImageError(f"Image not found: {path}.", hint="Check the path.")
        if path.is_dir():
            raise ImageError(f"{path} is a folder, not an image file.")
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageError(
                f"{path} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.",
                hint="Resize the image or raise FACELENS_MAX_IMAGE_BYTES.",
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"Cannot read {path}: {exc.strerror}.") from exc
    label = name or "the uploaded image"
    if not data:
        raise ImageError(f"{label} is empty (0 bytes).", hint=f"Give a {_SUPPORTED} file.")
    if len(data) > max_bytes:
        raise ImageError(
            f"{label} is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.",
            hint="Resize the image or raise FACELENS_MAX_IMAGE_BYTES.",
        )
    return data, name


def load_image(
    source: str | Path | bytes | LoadedImage,
    *,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
) -> LoadedImage:
    """Decode an image file or bytes safely into an upright RGB array.

    Args:
        source: a path, raw file bytes, or an already loaded image (returned as is).
        max_bytes: file size limit (default ``FACELENS_MAX_IMAGE_BYTES``, 50 MB).
        max_pixels: pixel-count limit (default ``FACELENS_MAX_IMAGE_PIXELS``, 100 Mpx); Pillow's
            own decompression-bomb limit is set from it, so there is one limit.

    Raises:
        ImageError: missing, empty, truncated, corrupt, unsupported or oversized input.
    """
    if isinstance(source, LoadedImage):
        return source
    max_bytes = max_bytes or config.max_image_bytes()
    max_pixels = max_pixels or config.max_image_pixels()
    data, name = _read_bytes(source, max_bytes)
    label = name or "the uploaded image"
    # one limit, ours: Pillow's own bomb check (89.5 Mpx by default) would refuse images under it
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "?"
            if fmt not in FORMATS:
                raise ImageError(f"{label} is a {fmt} image; facelens reads {_SUPPORTED}.")
            width, height = img.size
            # check before decoding: a bomb declares huge dimensions in a tiny file
            if width * height > max_pixels:
                raise ImageError(
                    f"{label} is {width}x{height} pixels ({width * height / 1e6:.0f} Mpx); "
                    f"the limit is {max_pixels / 1e6:.0f} Mpx.",
                    hint="Resize the image or raise FACELENS_MAX_IMAGE_PIXELS.",
                )
            if width == 0 or height == 0:
                raise ImageError(f"{label} has no pixels ({width}x{height}).")
            check_shape(width, height, label)
            img.load()
            orientation = img.getexif().get(0x0112, 1)
            # only 2..8 rotate or mirror; 1 and invalid values leave the pixels as they are
            rotated = orientation in (2, 3, 4, 5, 6, 7, 8)
            img = ImageOps.exif_transpose(img) if rotated else img
            rgb = _to_rgb(img)
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{label} is not an image facelens can read (corrupt or not an image).",
            hint=f"Give a {_SUPPORTED} file.",
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"{label} declares too many pixels (possible decompression bomb); the limit is {max_pixels / 1e6:.0f} Mpx.",
            hint="Resize the image or raise FACELENS_MAX_IMAGE_PIXELS.",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(
            f"{label} is truncated or corrupt ({exc}).", hint="Re-export or re-download the image."
        ) from exc
    digest = hashlib.sha256(data).hexdigest()
    return LoadedImage(rgb=rgb, sha256=digest, format=fmt, source=name, exif_rotated=rotated)


def check_shape(width: int, height: int, label: str = "the image") -> None:
    """Refuse an image too small or too thin to hold a face, before any model sees it.

    Raises:
        ImageError: a side under :data:`MIN_SIDE` pixels, or sides more than :data:`MAX_ASPECT` to 1.
    """
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{label} is {width}x{height} pixels; facelens needs at least {MIN_SIDE} pixels on each side.",
            hint="Give a larger photo (a face needs a few dozen pixels).",
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(
            f"{label} is {width}x{height} pixels, {max(width, height) / min(width, height):.0f} times longer than "
            f"wide; facelens takes up to {MAX_ASPECT:.0f} to 1.",
            hint="Crop it to the part with the people.",
        )


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> H x W x 3 uint8 RGB; transparency is composited over white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() or 1.0
        img = Image.fromarray((arr / hi * 255.0).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        img = Image.fromarray(((arr - lo) / ((hi - lo) or 1.0) * 255.0).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
