"""The pictures predict draws: small images upscaled (the JSON untouched), skeletons outlined so that they stand
out from limbs of their own colour, track ids as labels on a filled background."""
import json

import cv2
import numpy as np
import pytest

from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SKELETON, KeypointMeta
from simplepose.predict.drawing import MIN_WIDTH, SIDE_BGR, TRACK_COLOURS, Pens, draw_people
from simplepose.predict.outputs import record, write_image_result
from simplepose.runtime.predictor import Person

META = KeypointMeta.build(COCO_KEYPOINT_NAMES, COCO_SKELETON)
LEFT_SHOULDER, LEFT_ELBOW = META.names.index("left_shoulder"), META.names.index("left_elbow")


def person(joints: dict[int, tuple[float, float]], box=(40, 60, 280, 200), track_id=None) -> Person:
    """A person whose only confident joints are ``joints`` (index -> (x, y), image pixels)."""
    keypoints = np.zeros((META.num_joints, 3), np.float32)
    for k, (x, y) in joints.items():
        keypoints[k] = (x, y, 0.9)
    return Person(box=np.array(box, np.float32), score=0.8, keypoints=keypoints, track_id=track_id)


def picture(tmp_path, image, people, stem="x"):
    write_image_result(tmp_path, stem, f"{stem}.jpg", image, people, META, 0.2, "model")
    return cv2.imread(str(tmp_path / f"{stem}.png")), json.loads((tmp_path / f"{stem}.json").read_text())


@pytest.mark.parametrize("size, expected", [((320, 240), (640, 480)), ((100, 400), (640, 2560)),
                                            ((700, 300), (700, 300))])
def test_a_narrow_image_is_drawn_at_least_640_wide(tmp_path, size, expected):
    png, _ = picture(tmp_path, np.full((size[1], size[0], 3), 90, np.uint8), [])
    assert png.shape[1::-1] == expected and expected[0] >= MIN_WIDTH


def test_keypoints_in_the_json_stay_in_image_pixels_and_joints_land_where_their_pixel_went(tmp_path):
    image = np.full((240, 320, 3), 90, np.uint8)
    people = [person({LEFT_SHOULDER: (100.25, 80.5), LEFT_ELBOW: (150.75, 130.0)})]
    png, doc = picture(tmp_path, image, people)
    assert doc == record("x.jpg", people)
    assert doc["people"][0]["keypoints"][LEFT_SHOULDER] == [100.25, 80.5, 0.9]
    assert doc["people"][0]["box"] == [40, 60, 240, 140]                 # x, y, w, h in the image's pixels
    for x, y in ((100.25, 80.5), (150.75, 130.0)):                        # a pixel centre x goes to 2x + 0.5
        px, py = round(2 * x + 0.5), round(2 * y + 0.5)
        assert np.abs(png[py, px].astype(int) - SIDE_BGR["left"]).max() <= 8, (x, y, png[py, px])


def test_a_limb_is_outlined_so_that_it_stands_out_from_its_own_colour(tmp_path):
    """An orange limb drawn across an orange image: dark pixels on both sides of it along its length."""
    image = np.empty((240, 320, 3), np.uint8)
    image[:] = SIDE_BGR["left"]
    png, _ = picture(tmp_path, image, [person({LEFT_SHOULDER: (60, 120), LEFT_ELBOW: (260, 120)})])
    # The limb runs along picture row 240.5 from x = 120.5 to 520.5 (2x + 0.5).
    dark = (png.max(axis=2) < 60)
    pens = Pens.for_size(480, 640)
    reach = pens.limb // 2 + pens.edge + 1
    for x in range(200, 460, 20):
        column = dark[240 - 2 * reach:241 + 2 * reach, x]
        above, below = column[:2 * reach].any(), column[-2 * reach:].any()
        assert above and below, (x, png[240 - 2 * reach:241 + 2 * reach, x].tolist())
        assert np.abs(png[240, x].astype(int) - SIDE_BGR["left"]).max() <= 8          # the limb's colour inside
        assert not dark[240 - 3 * reach, x] and not dark[241 + 3 * reach, x]         # the image beyond
    plain, _ = picture(tmp_path, image, [], "plain")
    assert not (plain.max(axis=2) < 60)[200:280].any()                  # no dark pixels without the limb


def test_a_track_id_is_a_label_with_a_filled_background_scaled_to_the_frame():
    frames = {}
    for track_id in (None, 3):
        frame = np.full((480, 640, 3), 128, np.uint8)
        draw_people(frame, [person({}, box=(200, 100, 400, 400), track_id=track_id)], META)
        frames[track_id] = frame
    pens = Pens.for_size(480, 640)
    (tw, th), _ = cv2.getTextSize("3", cv2.FONT_HERSHEY_SIMPLEX, pens.font, pens.text)
    # Above the box's top edge and its outline (the box itself changes colour too: white -> the track's).
    label = np.any(frames[3] != frames[None], axis=2)[:97]
    ys, xs = np.nonzero(label)
    assert ys.min() < 97 - th and xs.min() >= 198 and xs.max() <= 200 + 3 * tw + 10   # at its corner, above
    area = frames[3][ys.min():ys.max() + 1, xs.min():xs.max() + 1].reshape(-1, 3)
    colour = TRACK_COLOURS[3]
    filled = np.all(np.abs(area.astype(int) - colour) <= 2, axis=1).mean()
    ink = (np.all(area < 35, axis=1) | np.all(area > 220, axis=1)).mean()   # black or white text on it
    assert filled > 0.5 and ink > 0.05, (filled, ink)
    big = np.full((1080, 1920, 3), 128, np.uint8)
    draw_people(big, [person({}, box=(600, 300, 1200, 1000), track_id=3)], META)
    tall = np.nonzero(np.any(big[:295] != 128, axis=2))[0]
    # A frame three times as large gets a label about three times as tall.
    assert 300 - tall.min() > 2.5 * (100 - ys.min())


def test_a_label_at_the_top_edge_stays_in_the_frame():
    frame = np.full((240, 320, 3), 128, np.uint8)
    draw_people(frame, [person({}, box=(0, 0, 100, 100), track_id=0)], META)
    inside = np.all(np.abs(frame[:40, :40].astype(int) - TRACK_COLOURS[0]) <= 2, axis=2)
    assert inside.sum() > 100            # the label, drawn inside the box below its top left corner
