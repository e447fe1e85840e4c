"""Every kind of photo through the default detector (issue 12; RetinaFace since issue 22): each test asserts the face count.

Images are built from the public-domain sample portraits (eval/scenes.py): a face filling the frame,
one cut by the border, a greyscale collage, a rotated face, a crowd.
"""

from __future__ import annotations

import numpy as np
import pytest

from facelens.eval import collages
from facelens.eval import scenes as samples
from facelens.tools import blazeface, faces, large_faces
from facelens.tools.identity import face_for_enrollment

needs_mediapipe = pytest.mark.skipif(
    not blazeface.available(), reason="needs mediapipe (pip install 'facelens[mediapipe]')"
)


def _face_filling_frame(who: str = "astronaut") -> np.ndarray:
    rgb = samples.PEOPLE[who]()
    x, y, w, h = faces.detect_faces(rgb, "hog")[0].box
    cx, cy, s = x + w // 2, y + h // 2, int(1.15 * max(w, h))  # the face box fills ~87% of the frame
    return np.ascontiguousarray(rgb[cy - s // 2 : cy + s // 2, cx - s // 2 : cx + s // 2])


@needs_mediapipe
@pytest.mark.parametrize("who", ["astronaut", "hopper"])
def test_a_face_filling_the_frame_is_found_once(who):
    crop = _face_filling_frame(who)
    dets = faces.detect_faces(crop)
    assert len(dets) == 1, [d.box for d in dets]
    assert dets[0].box[2] > 0.6 * crop.shape[1]


@needs_mediapipe
def test_a_face_cut_by_the_border_is_found_once():
    crop = _face_filling_frame("hopper")
    cut = np.ascontiguousarray(crop[:, crop.shape[1] // 5 :])  # the left fifth of the face is outside the photo
    assert len(faces.detect_faces(cut)) == 1


@needs_mediapipe
def test_a_greyscale_collage_of_tight_crops_counts_every_tile():
    tiles = [samples.head("astronaut"), samples.head("hopper"), samples.head("astronaut", mirror=True)]
    rng = np.random.default_rng(3)
    c = collages.make_collage(tiles, rng, grey=True)
    assert c.grey and (c.rgb[..., 0] == c.rgb[..., 2]).all()
    dets = faces.detect_faces(c.rgb)
    assert len(dets) == 3, (c.layout, [d.box for d in dets])
    for x, y, w, h in c.tiles:  # one face per tile
        assert sum(x <= d.box[0] + d.box[2] / 2 <= x + w and y <= d.box[1] + d.box[3] / 2 <= y + h for d in dets) == 1


def _close_up(who: str, zoom: float, dx: float, dy: float) -> np.ndarray:
    """A square crop of ``zoom`` x the face box, moved by ``dx``/``dy`` box sides: a face larger than
    its tile, cut by the tile's edges."""
    rgb = samples.PEOPLE[who]()
    x, y, w, h = faces.detect_faces(rgb, "hog")[0].box
    s, cx, cy = int(zoom * max(w, h)), x + w // 2 + int(dx * w), y + h // 2 + int(dy * h)
    return np.ascontiguousarray(rgb[cy - s // 2 : cy + s // 2, cx - s // 2 : cx + s // 2])


def _row_collage(tiles: list[np.ndarray], side: int = 200, gap: int = 20, grey: bool = False) -> np.ndarray:
    import cv2

    canvas = np.full((side + 2 * gap, len(tiles) * (side + gap) + gap, 3), 200, dtype=np.uint8)
    for i, t in enumerate(tiles):
        x = gap + i * (side + gap)
        canvas[gap : gap + side, x : x + side] = cv2.resize(t, (side, side), interpolation=cv2.INTER_AREA)
    return np.repeat(cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2) if grey else canvas


@needs_mediapipe
@pytest.mark.parametrize("who,dx,dy", [("astronaut", -0.2, 0.0), ("hopper", 0.0, 0.1)])
def test_a_collage_tile_holding_a_close_up_cut_by_its_edges_counts_once(who, dx, dy):
    # the failure kind behind most collage misses: a tile zoomed in so far that the face is larger than
    # the tile (forehead or chin outside it); the tiled and large-face passes miss it, the close-up
    # look at the empty panel finds it
    tiles = [samples.head("astronaut"), _close_up(who, 0.6, dx, dy), samples.head("hopper")]
    rgb = _row_collage(tiles)
    assert large_faces.panels(rgb) == [(20 + 220 * i, 20, 220 + 220 * i, 220) for i in range(3)]
    dets = faces.detect_faces(rgb)
    assert len(dets) == 3, [d.box for d in dets]
    middle = [d for d in dets if 240 <= d.box[0] + d.box[2] / 2 < 440]
    assert (
        len(middle) == 1 and middle[0].box[0] >= 240 and middle[0].box[0] + middle[0].box[2] <= 440
    )  # clipped to its tile


def test_panels_split_collages_and_leave_photos_whole(astronaut):
    canvas = np.full((300, 700, 3), (40, 90, 160), dtype=np.uint8)
    canvas[30:270, 20:260] = astronaut[100:340, 150:390]
    canvas[30:150, 300:680] = astronaut[:120, :380]
    canvas[160:270, 300:680] = astronaut[300:410, 100:480]
    assert large_faces.panels(canvas) == [(20, 30, 260, 270), (300, 30, 680, 150), (300, 160, 680, 270)]
    assert large_faces.panels(astronaut) == []  # an ordinary photo: no plain line runs right across it
    assert large_faces.panels(np.full((200, 200, 3), 255, dtype=np.uint8)) == []


def _edge_to_edge(tiles: list[np.ndarray], side: int = 200, grey: bool = False) -> np.ndarray:
    """Tiles laid edge to edge in a row, with no gap and no margin (no plain line anywhere)."""
    import cv2

    row = np.hstack([cv2.resize(t, (side, side), interpolation=cv2.INTER_AREA) for t in tiles])
    return (
        np.repeat(cv2.cvtColor(row, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2) if grey else np.ascontiguousarray(row)
    )


def test_seams_split_tiles_laid_edge_to_edge_and_leave_photos_whole(astronaut):
    import cv2

    rgb = _edge_to_edge([samples.head("astronaut"), samples.head("hopper"), samples.head("astronaut", mirror=True)])
    assert large_faces.seams(rgb, 1) == [200, 400] and large_faces.seams(rgb, 0) == []
    assert large_faces.panels(rgb) == [(0, 0, 200, 200), (200, 0, 400, 200), (400, 0, 600, 200)]
    column = np.ascontiguousarray(rgb.transpose(1, 0, 2))  # the same tiles stacked (each one transposed)
    assert large_faces.panels(column) == [(0, 0, 200, 200), (0, 200, 200, 400), (0, 400, 200, 600)]
    assert large_faces.seams(astronaut, 0) == [] and large_faces.seams(astronaut, 1) == []
    # a photo enlarged by repeating lines jumps at every other line: that is no seam
    blocky = cv2.resize(astronaut, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    assert large_faces.seams(blocky, 0) == [] and large_faces.seams(blocky, 1) == []
    assert large_faces.panels(blocky) == []


def test_parts_of_a_face_go_before_the_crowd_check():
    # a close-up's two eyes, each taken for a face by a fine tile, inside the tiled box of the face: they go,
    # so the large box of that face is not taken for a box over a crowd (and the count stays one)
    D = faces.Detection
    face, eyes = (
        D((10, 10, 200, 200), 0.94, "fused"),
        [D((40, 60, 50, 50), 0.7, "fused"), D((130, 60, 50, 50), 0.8, "fused")],
    )
    other = D((300, 10, 60, 60), 0.6, "fused")  # a smaller face beside it, not inside: stays
    assert large_faces.drop_parts([face, *eyes, other]) == [face, other]
    assert large_faces.drop_parts([D((10, 10, 200, 200), 0.5, "fused"), *eyes]) == [
        D((10, 10, 200, 200), 0.5, "fused"),
        *eyes,
    ]  # a weaker holder: no
    big = D((0, 0, 230, 230), 0.9, "fused")
    assert len(large_faces.combine([big], [face, *eyes])) == 1


@needs_mediapipe
@pytest.mark.parametrize("grey", [False, True])
def test_a_collage_with_no_gap_counts_every_tile(grey):
    # tiles laid edge to edge: the seam cuts them apart, and the close-up tile (its face larger than the
    # tile, its eyes high in it) is found by the close-up look at its panel
    tiles = [samples.head("hopper"), _close_up("hopper", 0.6, 0.0, 0.1), samples.head("astronaut", mirror=True)]
    rgb = _edge_to_edge(tiles, grey=grey)
    dets = faces.detect_faces(rgb)
    assert len(dets) == 3, [d.box for d in dets]
    for k in range(3):  # one face per tile
        assert sum(200 * k <= d.box[0] + d.box[2] / 2 < 200 * (k + 1) for d in dets) == 1


@needs_mediapipe
@pytest.mark.parametrize("angle", [-25, 25])
def test_a_rotated_face_is_found_once(angle):
    import cv2

    rgb = samples.astronaut()
    h, w = rgb.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 3), angle, 1.0)
    rotated = cv2.warpAffine(rgb, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    assert len(faces.detect_faces(rotated)) == 1


@needs_mediapipe
def test_a_crowd_of_small_faces_is_counted():
    people = [samples.Person("hopper" if i % 2 else "astronaut", "red", mirror=i % 3 == 0) for i in range(10)]
    rgb, placed = samples.compose(people, width=1400, height=500, head_width=60)
    assert len(faces.detect_faces(rgb)) == len(placed)


@needs_mediapipe
def test_enrolment_and_analysis_share_the_detector(tmp_path):
    # a tight crop that enrolment accepts is also found by the default detector (no special retry)
    crop = _face_filling_frame("astronaut")
    box, vec = face_for_enrollment(_jpeg(crop))
    assert vec.shape == (128,)
    assert len(faces.detect_faces(crop)) == 1


def _jpeg(rgb: np.ndarray) -> bytes:
    from tests.conftest import jpeg_bytes

    return jpeg_bytes(rgb)


def test_square_windows_cover_strips_and_squares():
    assert large_faces.square_windows(350, 350)[0] == (0, 0, 350, 350)
    strip = large_faces.square_windows(1000, 200)
    assert min(x0 for x0, _, _, _ in strip) == 0 and max(x1 for _, _, x1, _ in strip) == 1000
    assert all(y1 - y0 == 200 for _, y0, _, y1 in strip[1:])


def test_combine_drops_parts_of_a_large_face_and_keeps_crowds():
    big = faces.Detection((0, 0, 300, 300), 0.9, "fused")
    part = faces.Detection((50, 50, 60, 60), 0.95, "fused")
    assert large_faces.combine([big], [part]) == [big]
    crowd = [faces.Detection((20 + 70 * i, 20, 50, 50), 0.9, "fused") for i in range(3)]
    false_big = faces.Detection((0, 0, 250, 120), 0.8, "fused")
    assert large_faces.combine([false_big], crowd) == sorted(crowd, key=lambda d: -d.score)


def test_combine_drops_a_part_inside_a_tiled_box_that_stands_for_a_large_face():
    # the tiled passes found the close-up (0.94) and a part of it (an eye, 0.53); the large-face box of the
    # same face scored lower (0.82): it must neither count as a crowd holder nor leave the part behind
    tiled_face = faces.Detection((0, 3, 219, 250), 0.936, "fused")
    part = faces.Detection((13, 59, 67, 67), 0.533, "fused")
    large = faces.Detection((0, 28, 219, 237), 0.82, "fused")
    assert large_faces.combine([large], [tiled_face, part]) == [tiled_face]


def test_detector_in_use_names_hog_without_mediapipe(monkeypatch, astronaut):
    from facelens.tools import detector_fusion

    monkeypatch.setattr(blazeface, "available", lambda: False)
    monkeypatch.setattr(detector_fusion, "_warned", True)
    assert faces.detector_in_use("fused") == "hog"
    assert faces.detector_in_use("hog") == "hog"
    crop = _face_filling_frame("astronaut")
    dets = faces.detect_faces(crop, "fused")  # padded HOG finds a frame-filling face too
    assert len(dets) == 1 and dets[0].detector == "hog"


def test_scene_reports_the_detector_that_ran(monkeypatch, astronaut_jpg):
    from facelens.tools import detector_fusion
    from facelens.tools.scene import analyze_image

    monkeypatch.setattr(blazeface, "available", lambda: False)
    monkeypatch.setattr(detector_fusion, "_warned", True)
    scene = analyze_image(astronaut_jpg, detector="fused", identify=False, use_cache=False)
    assert scene.detector == "hog" and [f.detector for f in scene.faces] == ["hog"]
