"""Safe image input: every format, orientation and mode; every bad-input class gets a clear error."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facelens.tools.errors import ImageError
from facelens.tools.images import load_image


def _bytes(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_formats_decode_to_rgb(fmt, astronaut):
    img = load_image(_bytes(Image.fromarray(astronaut), fmt))
    assert img.rgb.shape == (512, 512, 3) and img.rgb.dtype == np.uint8
    assert img.format == fmt and len(img.sha256) == 64


def test_grey_rgba_palette_and_16bit(astronaut):
    grey = Image.fromarray(astronaut).convert("L")
    assert load_image(_bytes(grey, "PNG")).rgb.shape == (512, 512, 3)
    rgba = Image.fromarray(astronaut).convert("RGBA")
    rgba.putalpha(0)  # fully transparent composites over white
    assert load_image(_bytes(rgba, "PNG")).rgb.min() == 255
    assert load_image(_bytes(Image.fromarray(astronaut).convert("P"), "PNG")).rgb.shape[2] == 3
    deep = Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    assert load_image(_bytes(deep, "PNG")).rgb.shape == (64, 64, 3)


def test_exif_orientation_is_applied():
    rgb = np.zeros((20, 40, 3), dtype=np.uint8)  # wide image, rotated 90 degrees by its EXIF tag
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = 6
    loaded = load_image(_bytes(img, "JPEG", exif=exif.tobytes()))
    assert loaded.rgb.shape[:2] == (40, 20) and loaded.exif_rotated


def test_path_input(astronaut_jpg):
    img = load_image(astronaut_jpg)
    assert img.source == str(astronaut_jpg) and img.width == 512


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"this is plain text, not an image" * 10, "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not an image"),
    ],
)
def test_bad_bytes(data, message):
    with pytest.raises(ImageError, match=message):
        load_image(data)


def test_truncated_jpeg(astronaut):
    data = _bytes(Image.fromarray(astronaut), "JPEG")
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_corrupt_middle(astronaut):
    data = bytearray(_bytes(Image.fromarray(astronaut), "PNG"))
    data[200:400] = b"\x00" * 200
    with pytest.raises(ImageError):
        load_image(bytes(data))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)


def test_wrong_format_gif():
    gif = _bytes(Image.new("RGB", (10, 10)), "GIF")
    with pytest.raises(ImageError, match="GIF"):
        load_image(gif)


def test_decompression_bomb_is_refused_before_decoding():
    # a 1-colour PNG declaring 20000 x 20000 pixels compresses to a few hundred KB
    bomb = _bytes(Image.new("L", (20000, 20000)), "PNG")
    with pytest.raises(ImageError, match="Mpx|too many pixels"):
        load_image(bomb, max_pixels=50_000_000)


def test_file_size_limit(tmp_path, astronaut):
    path = tmp_path / "big.png"
    Image.fromarray(astronaut).save(path)
    with pytest.raises(ImageError, match="limit"):
        load_image(path, max_bytes=1000)


@pytest.mark.parametrize("orientation", [0, 1, 9, 255])
def test_exif_rotated_is_honest_for_values_that_rotate_nothing(orientation):
    img = Image.fromarray(np.zeros((20, 40, 3), dtype=np.uint8))
    exif = img.getexif()
    exif[0x0112] = orientation
    loaded = load_image(_bytes(img, "JPEG", exif=exif.tobytes()))
    assert loaded.rgb.shape[:2] == (20, 40) and loaded.exif_rotated is False


def test_one_pixel_limit_ours_not_pillows(monkeypatch):
    """Pillow's own bomb check (89.5 Mpx by default) must not refuse images under our documented
    100 Mpx limit: it is set from ours. Scaled down here: Pillow's at 1,000 px, ours at 50,000."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    png = _bytes(Image.new("L", (200, 200)), "PNG")  # 40,000 px: over Pillow's, under ours
    monkeypatch.setenv("FACELENS_MAX_IMAGE_PIXELS", "50000")
    assert load_image(png).rgb.shape == (200, 200, 3)
    assert Image.MAX_IMAGE_PIXELS == 50000
    monkeypatch.setenv("FACELENS_MAX_IMAGE_PIXELS", "30000")  # read at each call: lowering works too
    with pytest.raises(ImageError, match="FACELENS_MAX_IMAGE_PIXELS"):
        load_image(png)


def test_default_limit_is_the_documented_100_mpx(monkeypatch):
    from facelens.tools import config

    monkeypatch.delenv("FACELENS_MAX_IMAGE_PIXELS", raising=False)
    assert config.max_image_pixels() == 100_000_000
    bomb = _bytes(Image.new("L", (10_100, 10_000)), "PNG")  # 101 Mpx declared in a small file
    with pytest.raises(ImageError, match="the limit is 100 Mpx"):
        load_image(bomb)


# --- shapes no detector can use (issue 25: a 1x1 image broke MediaPipe for every later request) --------


@pytest.mark.parametrize("size", [(1, 1), (4000, 1), (1, 4000), (15, 200), (2000, 90)])
def test_too_small_or_too_thin_is_refused_before_any_model(size):
    from facelens.tools.images import MAX_ASPECT, MIN_SIDE

    png = _bytes(Image.new("RGB", size, (128, 128, 128)), "PNG")
    with pytest.raises(ImageError) as info:
        load_image(png)
    w, h = size
    assert f"{w}x{h}" in info.value.message and info.value.hint
    assert (
        (str(MIN_SIDE) in info.value.message)
        if min(size) < MIN_SIDE
        else (f"{MAX_ASPECT:.0f} to 1" in info.value.message)
    )


@pytest.mark.parametrize("size", [(16, 16), (16, 320), (320, 16), (48, 48), (2000, 100)])
def test_smallest_and_thinnest_accepted_shapes_decode(size):
    img = load_image(_bytes(Image.new("RGB", size, (128, 128, 128)), "PNG"))
    assert (img.width, img.height) == size
