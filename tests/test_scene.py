"""Scene analysis on a composed multi-person photo: order, positions, clothing, cache."""

from __future__ import annotations

import json

from facelens.tools.scene import SceneAnalysis, analyze_image, dumps


def test_group_photo_left_to_right_with_clothing(group_jpg):
    path, placed = group_jpg
    scene = analyze_image(path, identify=False)
    assert [f.id for f in scene.faces] == [1, 2, 3, 4]
    assert [f.appearance.clothing_colour for f in scene.faces] == [p.shirt for p in placed]
    assert [f.position.horizontal for f in scene.faces] == ["left", "center", "center", "right"]
    for f, p in zip(scene.faces, placed):
        x, y, w, h = f.box
        px, py, pw, ph = p.head_box
        assert px <= x + w / 2 <= px + pw and py <= y + h / 2 <= py + ph  # each box is inside its pasted head


def test_json_round_trip_and_cache(group_jpg):
    path, _ = group_jpg
    first = analyze_image(path)
    assert not first.cached and "detect" in first.timings_ms
    again = analyze_image(path)
    assert again.cached and "detect" not in again.timings_ms  # no inference the second time
    assert [f.box for f in again.faces] == [f.box for f in first.faces]
    data = json.loads(dumps(first))
    assert set(data) >= {"image", "faces"} and data["faces"][0]["position"]["index"] == 1
    assert "embedding" not in json.dumps(data)  # biometric vectors never go into the JSON
    assert SceneAnalysis.model_validate(data).faces[0].box == first.faces[0].box


def test_damaged_cache_entry_is_recomputed(group_jpg, facelens_home):
    path, _ = group_jpg
    analyze_image(path)
    entries = list((facelens_home / "cache").glob("*.npz"))
    assert len(entries) == 1  # one file per entry: scene and embeddings commit together
    for p in entries:
        p.write_bytes(p.read_bytes()[:-200])  # cut short: the checksum no longer matches
    again = analyze_image(path)
    assert len(again.faces) == 4 and not again.cached


def test_photo_without_faces(tmp_path):
    import numpy as np

    from tests.conftest import save

    scene = analyze_image(save(np.full((240, 320, 3), 200, np.uint8), tmp_path / "empty.png", "PNG"))
    assert scene.faces == []
