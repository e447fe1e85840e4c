"""Clothing colour: the garment under a face, named in CIELAB; generated scenes with known colours."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from facelens.eval import scenes
from facelens.tools import appearance, faces
from facelens.tools.errors import InputError
from facelens.tools.schema import ClothingEstimate

SHADES = {  # colour name -> shades a person would call by that name
    "red": [(200, 30, 35), (150, 20, 30), (220, 60, 60)],
    "pink": [(245, 150, 190), (255, 192, 203), (225, 80, 150)],
    "blue": [(30, 60, 190), (20, 30, 90), (110, 160, 225)],  # royal, navy, light blue
    "green": [(30, 150, 60), (25, 80, 40), (0, 128, 110)],
    "yellow": [(235, 210, 40), (245, 235, 130)],
    "orange": [(240, 130, 20), (255, 127, 80)],  # orange, coral
    "purple": [(120, 40, 150), (80, 30, 100)],
    "brown": [(110, 70, 35), (80, 55, 35)],
    "black": [(20, 20, 22), (45, 45, 48)],
    "white": [(245, 245, 245), (235, 235, 228)],
    "grey": [(128, 128, 128), (165, 165, 168)],
}


@pytest.mark.parametrize("name", list(SHADES))
def test_named_shades(name):
    idx = appearance.name_colours(np.array(SHADES[name], np.uint8))
    assert [appearance.COLOURS[i] for i in idx] == [name] * len(SHADES[name])


def _scene(
    shirt: tuple[int, int, int],
    who: str = "hopper",
    hair: tuple[int, int, int] | None = None,
    stripes: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, faces.Face]:
    """One person: a sample head over a painted torso; optional long hair of another colour and stripes."""
    return _paint(shirt, who, hair, stripes), _face(who, hair is not None)


def _paint(shirt, who, hair, stripes) -> np.ndarray:
    import cv2

    rgb = np.full((720, 640, 3), 215, np.uint8)
    crop = scenes.head(who)
    w = 200
    h = int(round(crop.shape[0] * w / crop.shape[1]))
    crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    x, y = 220, 60
    cv2.rectangle(rgb, (x - 40, y + h - 5), (x + w + 40, 719), shirt, thickness=-1)
    if stripes is not None:
        for yy in range(y + h, 720, 36):
            cv2.rectangle(rgb, (x - 40, yy), (x + w + 40, yy + 17), stripes, thickness=-1)
    rgb[y : y + h, x : x + w] = crop
    if hair is not None:  # long hair falling past the face onto the shoulders
        cv2.rectangle(rgb, (x - 30, y), (x + 25, y + h + 90), hair, thickness=-1)
        cv2.rectangle(rgb, (x + w - 25, y), (x + w + 30, y + h + 90), hair, thickness=-1)
    return rgb


@cache
def _face(who: str, hair: bool) -> faces.Face:
    """The face of _scene's head, found once per head (the shirt's colour does not move it)."""
    rgb = _paint((128, 128, 128), who, (90, 90, 90) if hair else None, None)
    found, _ = faces.find_faces(rgb, "hog", embeddings=False)
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(
    "name", ["red", "pink", "blue", "green", "yellow", "orange", "purple", "brown", "black", "white", "grey"]
)
@pytest.mark.parametrize("who", ["hopper", "astronaut"])
def test_solid_shirt_colour(name, who):
    for shade in SHADES[name][:2]:
        rgb, face = _scene(shade, who)
        est = appearance.clothing(rgb, face.box, face.landmarks)
        assert est.colour == name, (shade, est)
        assert est.garment == "top" and est.confidence >= 0.45


@pytest.mark.parametrize(
    "shirt,hair", [("white", (60, 40, 25)), ("blue", (200, 160, 90)), ("pink", (25, 20, 20)), ("green", (150, 60, 30))]
)
def test_hair_over_the_shoulders_is_not_the_shirt(shirt, hair):
    rgb, face = _scene(SHADES[shirt][0], "astronaut", hair=hair)
    assert appearance.clothing(rgb, face.box, face.landmarks).colour == shirt


def test_striped_shirt_names_both_colours():
    rgb, face = _scene(SHADES["blue"][0], "hopper", stripes=SHADES["white"][0])
    est = appearance.clothing(rgb, face.box, face.landmarks)
    assert {est.colour, est.other_colour} == {"blue", "white"}


def test_example_scene_colours():
    rgb, placed = scenes.example_scene()
    found, _ = faces.find_faces(rgb, "hog", embeddings=False)
    assert len(found) == len(placed)
    for f, p in zip(found, placed):
        others = [g.box for g in found if g is not f]
        assert appearance.clothing(rgb, f.box, f.landmarks, others).colour == p.shirt


def test_torso_out_of_frame_is_unsure():
    rgb, face = _scene(SHADES["red"][0])
    cut = np.ascontiguousarray(rgb[: face.box[1] + face.box[3] + 10])  # the photo ends at the chin
    est = appearance.clothing(cut, face.box, face.landmarks)
    assert est.colour is None and est.garment is None and est.confidence == 0.0


def test_bare_skin_is_not_a_garment(hopper):
    # a torso painted in the face's own skin colour: no garment to name with confidence
    rgb, face = _scene((0, 0, 0))
    x, y, w, h = face.box
    skin = np.median(rgb[y + h // 2 : y + 3 * h // 4, x + w // 3 : x + 2 * w // 3].reshape(-1, 3), axis=0)
    rgb[y + h + 30 :, :] = skin.astype(np.uint8)
    est = appearance.clothing(rgb, face.box, face.landmarks)
    assert est.garment is None


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 4000, 3), (4000, 1, 3), (2, 2, 3)])
def test_degenerate_images_give_no_colour(shape):
    rgb = np.full(shape, 128, np.uint8)
    for box in [(0, 0, 1, 1), (0, 0, shape[1], shape[0]), (10, 0, 50, 50)]:
        est = appearance.clothing(rgb, box)
        assert isinstance(est, ClothingEstimate) and est.colour is None


@pytest.mark.parametrize(
    "bad", [np.zeros((10, 10)), np.zeros((10, 10, 4), np.uint8), np.zeros((10, 10, 3), np.float32), "img"]
)
def test_bad_images_are_input_errors(bad):
    with pytest.raises(InputError):
        appearance.clothing(bad, (0, 0, 5, 5))


def test_region_clipped_and_none_out_of_frame():
    assert appearance.clothing_region((100, 100, 50, 50), 300, 400) is not None
    x0, y0, x1, y1 = appearance.clothing_region((100, 100, 50, 50), 300, 400)
    assert 0 <= x0 < x1 <= 300 and 150 <= y0 < y1 <= 400
    assert appearance.clothing_region((100, 350, 50, 50), 300, 400) is None


def test_hair_with_highlights_and_shadows_is_not_the_shirt():
    # real hair is not one flat colour: strands of one hue, some lit and some in shadow, on the head and over the shoulders
    rgb, face = _scene(SHADES["pink"][0], "astronaut")
    x, y, w, h = face.box
    hair = np.zeros(rgb.shape[:2], bool)
    hair[60 : y - 2, x - 10 : x + w + 10] = True  # on the head
    hair[60:560, 160 : x + 15] = hair[60:560, x + w - 15 : 480] = True  # falling past the face well onto the chest
    hair[y : y + h, x : x + w] = False  # not over the face
    rows = (np.arange(rgb.shape[0]) // 7 % 3)[:, None].repeat(rgb.shape[1], 1)
    for k, shade in enumerate([(150, 110, 60), (195, 150, 90), (105, 72, 35)]):
        rgb[hair & (rows == k)] = shade
    assert appearance.clothing(rgb, face.box, face.landmarks).colour == "pink"


@pytest.mark.parametrize("name", ["white", "yellow"])
def test_dim_photo_keeps_the_shirt_colour(name):
    # an underexposed photo (everything at 70%): a white shirt must not read grey, a yellow one not olive green
    rgb, face = _scene(SHADES[name][0], "hopper")
    dim = (rgb.astype(np.float32) * 0.7).astype(np.uint8)
    assert appearance.clothing(dim, face.box, face.landmarks).colour == name


def test_chest_hidden_by_another_head_shoulders_are_read():
    # another person's head and red torso in front of this person's chest: the blue shoulders are read instead
    import cv2

    rgb, face = _scene(SHADES["blue"][0], "hopper")
    x, y, w, h = face.box
    front = cv2.resize(scenes.head("astronaut"), (w, h + h // 4), interpolation=cv2.INTER_AREA)
    fx, fy = x + w // 10, y + h + h // 3
    fy1 = min(720, fy + front.shape[0])
    cv2.rectangle(rgb, (fx - w // 6, fy1 - 5), (fx + w + w // 6, 719), SHADES["red"][0], thickness=-1)
    rgb[fy:fy1, fx : fx + w] = front[: fy1 - fy]
    other = (fx, fy, w, fy1 - fy)
    est = appearance.clothing(rgb, face.box, face.landmarks, [other])
    assert est.colour == "blue", est


def test_white_in_daylight_shade_is_white_and_light_blue_stays_blue():
    # a white shirt in the shade of a daylit scene is pale blue-grey (L ~75-80, b* ~ -20); a light blue shirt is
    # darker and more saturated
    shade = appearance.name_colours(np.array([(180, 199, 229), (175, 184, 222), (170, 185, 230)], np.uint8))
    assert [appearance.COLOURS[i] for i in shade] == ["white"] * 3
    blue = appearance.name_colours(np.array([(104, 137, 210), (110, 160, 225), (55, 162, 184)], np.uint8))
    assert [appearance.COLOURS[i] for i in blue] == ["blue"] * 3


def _turned(rgb: np.ndarray, face: faces.Face) -> tuple[np.ndarray, tuple[int, int, int, int], list]:
    """The scene turned 90 degrees clockwise (someone lying down, head to the right of the body... to the top-right),
    with the face's box and landmarks turned the same way."""
    hgt = rgb.shape[0]
    turned = np.ascontiguousarray(np.rot90(rgb, k=-1))
    x, y, w, h = face.box
    box = (hgt - (y + h), x, h, w)
    landmarks = [(hgt - 1 - py, px) for px, py in face.landmarks]
    return turned, box, landmarks


@pytest.mark.parametrize("name", ["red", "green"])
def test_a_person_lying_down_has_the_body_beside_the_head(name):
    rgb, face = _scene(SHADES[name][0], "hopper")
    turned, box, landmarks = _turned(rgb, face)
    est = appearance.clothing(turned, box, landmarks)
    assert est.colour == name, est


def test_a_neighbours_torso_is_not_this_persons_clothes():
    # a neighbour of the same size stands close on the right in red; this person's blue shirt is narrow
    rgb, face = _scene(SHADES["blue"][0], "hopper")
    x, y, w, h = face.box
    rgb[:, x + w + 40 :] = 215  # the background beside the blue shirt
    nx = x + w + w // 2  # the neighbour's face box: as big as this one, just right of it, at the same height
    rgb[y + h + 10 :, x + w // 2 + w // 3 :] = SHADES["red"][0]  # their torso reaches under this person's shoulder
    neighbour = (nx, y, w, h)
    est = appearance.clothing(rgb, face.box, face.landmarks, [neighbour])
    assert est.colour == "blue" and est.other_colour != "red", est
