"""Canonical keypoint names, side pairing and published OKS sigmas, on the name lists public datasets ship.

The lists are copied from the datasets' annotation files (or, where noted, mmpose's dataset configs,
which some users' files follow); the expected pairs and sigmas are written out by hand.
"""
import json

import pytest

import eval_simple_pose
from simplepose.errors import SimplePoseError
from simplepose.keypoint_names import canonical_name, pair_sides, side
from simplepose.meta import COCO_KEYPOINT_NAMES, FOOT_KEYPOINT_NAMES, KeypointMeta
from simplepose.sigma_tables import COCO_SIGMAS, FOOT_SIGMAS, lookup_sigmas, parse_sigmas_option

COCO = list(COCO_KEYPOINT_NAMES)
COCO_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
COCO_VALUES = tuple(COCO_SIGMAS[n] for n in COCO)
CROWDPOSE = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]
AIC = ["right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist", "right_hip",
       "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top", "neck"]
MPII = ["r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck", "head_top",
        "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist"]
AP10K = ["left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow", "left_front_paw",
         "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee", "left_back_paw", "right_hip",
         "right_knee", "right_back_paw"]
# AP-10K as mmpose's config spells it.
AP10K_MMPOSE = ["L_Eye", "R_Eye", "Nose", "Neck", "Root of tail", "L_Shoulder", "L_Elbow", "L_F_Paw", "R_Shoulder",
                "R_Elbow", "R_F_Paw", "L_Hip", "L_Knee", "L_B_Paw", "R_Hip", "R_Knee", "R_B_Paw"]
ANIMAL_POSE = ["L_Eye", "R_Eye", "L_EarBase", "R_EarBase", "Nose", "Throat", "TailBase", "Withers", "L_F_Elbow",
               "R_F_Elbow", "L_B_Elbow", "R_B_Elbow", "L_F_Knee", "R_F_Knee", "L_B_Knee", "R_B_Knee", "L_F_Paw",
               "R_F_Paw", "L_B_Paw", "R_B_Paw"]
HALPE = COCO + ["head", "neck", "hip", "left_big_toe", "right_big_toe", "left_small_toe", "right_small_toe",
                "left_heel", "right_heel"]
ZEBRA = ["snout", "head", "neck", "forelegL1", "forelegR1", "hindlegL1", "hindlegR1", "tailbase", "tailtip"]
FLY = (["head", "eyeL", "eyeR", "neck", "thorax", "abdomen"]
       + [f"{leg}R{i}" for leg in ("foreleg", "midleg", "hindleg") for i in range(1, 5)]
       + [f"{leg}L{i}" for leg in ("foreleg", "midleg", "hindleg") for i in range(1, 5)] + ["wingL", "wingR"])
DEEPFASHION = ["left collar", "right collar", "left sleeve", "right sleeve", "left waistline", "right waistline",
               "left hem", "right hem"]
HAND = ["wrist"] + [f"{finger}{i}" for finger in ("thumb", "forefinger", "middle_finger", "ring_finger",
                                                  "pinky_finger") for i in range(1, 5)]
# COCO's joints in the spellings other tools write.
COCO_RESPELLED = ["Nose", "L_Eye", "R_Eye", "lEar", "rEar", "Left Shoulder", "Right Shoulder", "LElbow", "RElbow",
                  "wristL", "wristR", "left-hip", "Right-hip", "Left_Knee", "RIGHT_KNEE", "l_ankle", "Right-ankle"]


@pytest.mark.parametrize("name, expected", [
    ("Right Shoulder", "right_shoulder"), ("R_Eye", "right_eye"), ("eyeL", "left_eye"), ("lEye", "left_eye"),
    ("LEye", "left_eye"), ("L_F_Elbow", "left_f_elbow"), ("forelegR1", "right_foreleg_1"),
    ("Right-ankle", "right_ankle"), ("left_big_toe", "left_big_toe"), ("r_ankle", "right_ankle"),
    ("legR1_1", "right_leg_1_1"), ("L_EarBase", "left_ear_base"), ("Root of tail", "root_of_tail"),
    ("front_left_paw", "left_front_paw"), ("head", "head"), ("neck", "neck"), ("head_top", "head_top"),
    ("thumb1", "thumb_1"), ("kpt_0", "kpt_0"), ("face-17", "face_17"), ("RIGHT_SHOULDER", "right_shoulder"),
    # Words that only contain l or r name no side.
    ("lower_lip", "lower_lip"), ("rump", "rump"), ("lear", "lear"), ("leftish_tail", "leftish_tail"),
    ("Withers", "withers"),
])
def test_canonical_names(name, expected):
    assert canonical_name(name) == expected


def test_sides():
    assert [side(n) for n in ("eyeL", "R_F_Paw", "Right-ankle", "neck", "lear", "rump", "l_r")] == \
        ["left", "right", "right", None, None, None, None]


@pytest.mark.parametrize("names, pairs, sigmas, source", [
    (COCO, COCO_PAIRS, COCO_VALUES, "COCO (cocoapi)"),
    # COCO's joints respelled: the same pairs and COCO's sigmas.
    (COCO_RESPELLED, COCO_PAIRS, COCO_VALUES, "COCO (cocoapi)"),
    (CROWDPOSE, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)],
     (0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089, 0.079, 0.079), "CrowdPose"),
    (AIC, [(0, 3), (1, 4), (2, 5), (6, 9), (7, 10), (8, 11)],
     (0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642, 0.03686941, 0.01981803,
      0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173), "AI Challenger"),
    (MPII, [(0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)],
     (0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179, 0.179, 0.072, 0.062),
     "MPII"),
    (COCO + list(FOOT_KEYPOINT_NAMES), COCO_PAIRS + [(17, 20), (18, 21), (19, 22)], COCO_VALUES + FOOT_SIGMAS,
     "COCO (cocoapi) + COCO-WholeBody feet"),
    (HALPE, COCO_PAIRS + [(20, 21), (22, 23), (24, 25)], COCO_VALUES + (0.08,) * 3 + (0.089,) * 6, "Halpe"),
    (AP10K, [(0, 1), (5, 8), (6, 9), (7, 10), (11, 14), (12, 15), (13, 16)],
     (0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
      0.089, 0.089), "AP-10K"),
    (AP10K_MMPOSE, [(0, 1), (5, 8), (6, 9), (7, 10), (11, 14), (12, 15), (13, 16)],
     (0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
      0.089, 0.089), "AP-10K"),
    (ANIMAL_POSE, [(0, 1), (2, 3), (8, 9), (10, 11), (12, 13), (14, 15), (16, 17), (18, 19)],
     (0.025, 0.025, 0.026, 0.035, 0.035, 0.10, 0.10, 0.10, 0.107, 0.107, 0.107, 0.107, 0.087, 0.087, 0.087, 0.087,
      0.089, 0.089, 0.089, 0.089), "Animal-Pose"),
    (ZEBRA, [(3, 4), (5, 6)], None, None),
    (FLY, [(1, 2), (6, 18), (7, 19), (8, 20), (9, 21), (10, 22), (11, 23), (12, 24), (13, 25), (14, 26), (15, 27),
           (16, 28), (17, 29), (30, 31)], None, None),
    (DEEPFASHION, [(0, 1), (2, 3), (4, 5), (6, 7)], None, None),
    (HAND, [], None, None),
    ([f"kpt_{i}" for i in range(68)], [], None, None),
])
def test_real_name_lists_give_their_pairs_and_published_sigmas(names, pairs, sigmas, source):
    assert pair_sides(names, "ann.json") == pairs
    found, where = lookup_sigmas(names, "ann.json")
    assert where == source
    assert found == (pytest.approx(sigmas) if sigmas else None)
    meta = KeypointMeta.build(names, source="ann.json")
    assert meta.flip_pairs == tuple(pairs) and meta.sigmas_source == source and len(meta.canonical_names) == len(names)


def test_pairs_and_unknown_sigmas_are_logged_by_name(caplog):
    KeypointMeta.build(ZEBRA, source="zebra.json")
    assert "zebra.json: left/right pairs from the names: forelegL1/forelegR1, hindlegL1/hindlegR1" in caplog.text
    assert ("zebra.json: no published OKS sigmas for keypoints ['snout', 'forelegL1', 'forelegR1', 'hindlegL1', "
            "'hindlegR1', 'tailbase', 'tailtip']") in caplog.text
    KeypointMeta.build(ANIMAL_POSE, source="animalpose.json")
    assert "animalpose.json: OKS sigmas of Animal-Pose" in caplog.text


@pytest.mark.parametrize("names, message", [
    (["L_Eye", "R_Eye", "L_Ear"], "keypoint 'L_Ear' reads as 'left_ear' but no keypoint reads as 'right_ear'"),
    (["eyeL", "eyeR", "tailR"], "keypoint 'tailR' reads as 'right_tail' but no keypoint reads as 'left_tail'"),
    (["left_eye", "Left Eye", "right_eye"], "keypoints 'left_eye' and 'Left Eye' are both 'left_eye'"),
    (["head", "Head"], "keypoints 'head' and 'Head' are both 'head'"),
])
def test_an_ambiguous_pairing_is_refused_not_guessed(names, message):
    with pytest.raises(SimplePoseError, match=f"^cat.json: {message}.*--flip-pairs a:b,c:d"):
        pair_sides(names, "cat.json")
    # Explicit pairs are taken as given.
    assert KeypointMeta.build(names, flip_pairs=[(0, 1)]).flip_pairs == ((0, 1),)


def test_uniform_sigmas_and_files(tmp_path):
    assert parse_sigmas_option("uniform:0.05", 3) == ((0.05, 0.05, 0.05), "uniform:0.05")
    path = tmp_path / "s.txt"
    path.write_text("0.1, 0.2 0.3\n")
    assert parse_sigmas_option(str(path), 3) == ((0.1, 0.2, 0.3), f"file {path}")
    for bad in ("uniform:0", "uniform:-0.1", "uniform:x", "uniform:", "uniform:nan", "uniform:inf"):
        with pytest.raises(SimplePoseError, match=rf"^--sigmas {bad}: '.*' is not a positive number; write "
                                                  r"uniform:VALUE with VALUE > 0"):
            parse_sigmas_option(bad, 3)


@pytest.mark.usefixtures("drop_log_handlers")
def test_evaluation_takes_uniform_sigmas(synthetic, trained, tmp_path):
    """``--sigmas uniform:0.5`` is the same as a file of seventeen 0.5s; a bad VALUE is a one-line error."""
    common = ["--params", trained, "--ann", synthetic["val_ann"], "--images", synthetic["val_images"], "-j", "0"]
    (tmp_path / "half.json").write_text(json.dumps([0.5] * 17))
    ap = {}
    for name, spec in (("file", str(tmp_path / "half.json")), ("uniform", "uniform:0.5")):
        assert eval_simple_pose.main(common + ["--sigmas", spec, "--metrics-json", str(tmp_path / name)]) == 0
        ap[name] = json.loads((tmp_path / name).read_text())["AP"]
    assert ap["uniform"] == ap["file"] and ap["file"] > 0
    with pytest.raises(SimplePoseError, match="--sigmas uniform:0: '0' is not a positive number"):
        eval_simple_pose.main(common + ["--sigmas", "uniform:0"])


def test_a_file_with_a_copied_coco_skeleton_loads(synthetic, tmp_path, caplog):
    """A 14-keypoint file (CrowdPose's names) carrying COCO's 17-keypoint skeleton loads, with CrowdPose's
    sigmas, and only its three out-of-range links dropped (they used to refuse the whole file)."""
    from simplepose.data.coco import COCOKeyPoints
    from simplepose.meta import COCO_SKELETON
    from tests.custom_keypoints import write_crowdpose_like
    path = write_crowdpose_like(synthetic["val_ann"], tmp_path / "cp.json")
    doc = json.loads(open(path).read())
    doc["categories"][0]["skeleton"] = [list(s) for s in COCO_SKELETON]
    (tmp_path / "cp.json").write_text(json.dumps(doc))
    ds = COCOKeyPoints(path, synthetic["val_images"])
    assert ds.meta.num_joints == 14 and len(ds.meta.skeleton) == 16 and ds.meta.sigmas_source == "CrowdPose"
    assert "3 of 19 skeleton links refer to keypoints outside 1..14: dropped" in caplog.text and ds.records


def test_training_keeps_uniform_sigmas_as_written(tmp_path, monkeypatch):
    """--sigmas uniform:X is not a path: the training config does not make it absolute."""
    from simplepose.training.config import build_config
    monkeypatch.chdir(tmp_path)
    cfg, _ = build_config(["--train-ann", "t.json", "--train-images", "t", "--sigmas", "uniform:0.05"])
    assert cfg.sigmas == "uniform:0.05"
