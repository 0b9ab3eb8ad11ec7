"""The 25 real-style stand-in files (tests/real_style_specs.py): what a user gets when loading each one, and a
handful of the most different ones trained for an epoch and evaluated through the command lines."""
import json
import logging
import re
from pathlib import Path

import pytest

from simplepose.data import quirks
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.keypoint_fields import SCORE_VISIBILITY
from simplepose.errors import SimplePoseError
from simplepose.keypoint_names import FACE_MIRROR_PAIRS, canonical_name
from simplepose.meta import WHOLEBODY_PARTS

from tests.real_style import build
from tests.real_style_specs import STYLES

SIGMA_WARNING = "no published OKS sigmas"
WHOLEBODY_NAMES = tuple(name for _, _, names in WHOLEBODY_PARTS for name in names)
SKELETON = "skeleton links refer to keypoints outside"
SHARED = "categories share one keypoint list"
NO_NAMES = "lists no keypoint names"


def expect(pairs, sigmas=None, warnings=(), fixed=(), skeleton=None, refused=None, names=None):
    """What loading one file should give: flip pairs (count), sigma source, the WARNING lines (by a phrase of
    each), the fixes counted (quirks constants), links kept; ``refused``: the one-line error (a regex) of a
    file that is not COCO-shaped as its dataset ships it; ``names``: the keypoints read when they are not the
    category's (COCO-WholeBody's 133)."""
    return dict(pairs=pairs, sigmas=sigmas, warnings=warnings, fixed=fixed, skeleton=skeleton, refused=refused,
                names=names)


# Animal-Pose ships keypoints.json with 'images' as an id -> file name dict (and [x0, y0, x1, y1] boxes, no
# annotation ids): refused in one line that names the converter.
NOT_COCO = r"'images' maps ids to file names .* convert the file first, e\.g\. with .*parse_animalpose_dataset\.py"
EXPECTED = {
    "coco": expect(8, "COCO (cocoapi)", skeleton=19),
    "crowdpose": expect(6, "CrowdPose", (SKELETON, "no 'area'"), (quirks.AREA_MISSING,), skeleton=16),
    "aic": expect(6, "AI Challenger", skeleton=14),
    "ochuman": expect(8, "COCO (cocoapi)", skeleton=19),
    "mhp": expect(6, "MPII", skeleton=15),
    "exlpose": expect(6, "CrowdPose", (SKELETON, "no 'area'"), (quirks.AREA_MISSING,), skeleton=16),
    "jhmdb": expect(6, None, (SIGMA_WARNING,), skeleton=14),
    # All 133 keypoints (as mmpose trains them): 8 body, 3 foot, 29 face and 21 hand pairs; COCO's 19 links and
    # 113 more; the hands' confidence visibilities read as labelled, counted.
    "coco_wholebody": expect(61, "COCO-WholeBody", ("confidence between 0 and 2",), (SCORE_VISIBILITY,), skeleton=132,
                             names=WHOLEBODY_NAMES),
    "ap10k": expect(7, "AP-10K", (SHARED,), skeleton=17),
    "animalpose": expect(8, "Animal-Pose", refused=NOT_COCO),
    "macaque": expect(8, "COCO (cocoapi)", skeleton=19),
    "horse10": expect(0, None, (SIGMA_WARNING,), skeleton=0),
    "zebra": expect(2, None, (SIGMA_WARNING, "id 0 or negative"), (quirks.NONPOSITIVE_ID,), skeleton=8),
    "locust": expect(15, None, (SIGMA_WARNING, "id 0 or negative"), (quirks.NONPOSITIVE_ID,), skeleton=4),
    "fly": expect(14, None, (SIGMA_WARNING, "id 0 or negative"), (quirks.NONPOSITIVE_ID,), skeleton=5),
    "atrw": expect(6, None, (SIGMA_WARNING, "'filename'"), (quirks.FILENAME_FIELD,), skeleton=14),
    "animal_kingdom": expect(8, None, (SIGMA_WARNING, "no 'bbox'", "no 'area'"),
                             (quirks.BOX_FROM_CENTER, quirks.AREA_MISSING), skeleton=0),
    "onehand10k": expect(0, None, (SIGMA_WARNING,), skeleton=20),
    "freihand": expect(0, None, (SIGMA_WARNING,), skeleton=20),
    "rhd": expect(0, None, (SIGMA_WARNING,), skeleton=20),
    "panoptic_hand": expect(0, None, (SIGMA_WARNING,), skeleton=20),
    "deepfashion": expect(3, None, (SIGMA_WARNING,), skeleton=0),
    "deepfashion2": expect(0, None, (SHARED, SIGMA_WARNING), skeleton=0),
    "300w": expect(0, None, (NO_NAMES, NO_NAMES, SIGMA_WARNING), skeleton=0),
    "wflw": expect(0, None, (NO_NAMES, NO_NAMES, SIGMA_WARNING), skeleton=0),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The synthetic images (8 train, 4 val) every stand-in is written over, and a builder into a temp dir."""
    from simplepose.synthetic import generate
    root = tmp_path_factory.mktemp("real_style")
    synthetic = generate(root / "synthetic", num_train_images=8, num_val_images=4, seed=5)
    return lambda name: build(name, root / name, synthetic)


def labelled_people(ann_file: str) -> int:
    """Annotations of the file that are not crowd regions and have a labelled keypoint (nested or flat)."""
    anns = json.loads(Path(ann_file).read_text())["annotations"]
    flat = [sum(a["keypoints"], []) if a["keypoints"] and isinstance(a["keypoints"][0], list) else a["keypoints"]
            for a in anns if not a.get("iscrowd")]
    return sum(1 for k in flat if any(k[2::3]))


def test_every_dataset_has_an_expectation():
    assert sorted(EXPECTED) == sorted(STYLES) and len(STYLES) == 25


@pytest.mark.parametrize("name, exp", [pytest.param(name, exp, id=name) for name, exp in EXPECTED.items()])
def test_loads_as_a_user_expects(corpus, caplog, name, exp):
    paths = corpus(name)
    caplog.set_level(logging.WARNING, logger="simplepose")
    if exp["refused"]:
        with pytest.raises(SimplePoseError, match=exp["refused"]):
            COCOKeyPoints(paths["train_ann"], paths["train_images"])
        return
    ds = COCOKeyPoints(paths["train_ann"], paths["train_images"])
    style, meta = STYLES[name], ds.meta
    k = len(exp["names"] or style.names or style.recipes)
    assert meta.num_joints == k
    assert meta.names == (exp["names"] or tuple(style.names or (f"kpt_{i}" for i in range(k))))
    assert len(meta.flip_pairs) == exp["pairs"]
    face = {f"face_{i}": f"face_{j}" for pair in FACE_MIRROR_PAIRS for i, j in (pair, pair[::-1])}
    for pair in meta.flip_pairs:   # every pair found is one joint on the left and on the right (or face landmarks)
        a, b = (canonical_name(meta.names[i]) for i in pair)
        assert a != b and (a.replace("left", "right") == b.replace("left", "right") or face.get(a) == b), pair
    assert meta.sigmas_source == exp["sigmas"]
    assert (meta.sigmas is None) == (exp["sigmas"] is None)
    assert len(meta.skeleton) == exp["skeleton"]
    assert len(ds) == labelled_people(paths["train_ann"])
    assert sorted(ds.fixed) == sorted(exp["fixed"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(exp["warnings"]), warnings
    for phrase in exp["warnings"]:
        assert any(phrase in w for w in warnings), (phrase, warnings)


# The most different styles: 54 categories sharing a list; a hand set without sigmas; MPII-style centre and
# scale without a box; 294 landmarks in 13 per-category slices; face landmarks with no names.
END_TO_END = ["ap10k", "onehand10k", "animal_kingdom", "deepfashion2", "300w"]


@pytest.mark.usefixtures("drop_log_handlers")
@pytest.mark.parametrize("name", END_TO_END)
def test_trains_and_evaluates_with_only_its_paths(corpus, tmp_path, capsys, name):
    """Issue 12's acceptance, in-process: one epoch with only the data flags (plus model and size flags), then
    eval_simple_pose.py --params CKPT --ann --images: exit 0, AP printed when sigmas are known, else PCK/EPE."""
    import eval_simple_pose
    import train_simple_pose
    paths = corpus(name)
    data = ["--train-ann", paths["train_ann"], "--train-images", paths["train_images"],
            "--val-ann", paths["val_ann"], "--val-images", paths["val_images"]]
    assert train_simple_pose.main(data + ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64",
                                          "--batch-size", "8", "-j", "0", "--num-epochs", "1",
                                          "--save-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    checkpoint = str(tmp_path / "simple_pose_resnet18_v1b-epoch0001.json")
    assert eval_simple_pose.main(["--params", checkpoint, "--ann", paths["val_ann"],
                                  "--images", paths["val_images"]]) == 0
    out = capsys.readouterr().out
    figure = (lambda key: re.search(rf"^\s*{re.escape(key)}\s+(\d+\.\d+)\s*$", out, re.MULTILINE))
    if EXPECTED[name]["sigmas"]:
        assert 0.0 <= float(figure("AP").group(1)) <= 1.0, out
    else:
        assert figure("AP") is None, out
        assert 0.0 <= float(figure("PCK@0.2").group(1)) <= 1.0, out
        assert float(figure("EPE").group(1)) > 0.0, out
