"""Keypoint metadata derivation and the heatmap codec on its own."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simplepose.codec import HeatmapCodec
from simplepose.errors import SimplePoseError
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SKELETON, KeypointMeta
from simplepose.sigma_tables import COCO_SIGMAS

CROWDPOSE = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck"]


def test_coco_category_gives_gluoncv_flip_pairs_and_sigmas():
    meta = KeypointMeta.from_coco_category({"id": 1, "keypoints": list(COCO_KEYPOINT_NAMES),
                                            "skeleton": [list(s) for s in COCO_SKELETON]})
    assert meta.num_joints == 17
    # GluonCV's COCOKeyPoints.joint_pairs, derived here from the names alone.
    assert [list(p) for p in meta.flip_pairs] == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12],
                                                 [13, 14], [15, 16]]
    assert meta.sigmas[0] == pytest.approx(0.026) and meta.sigmas[11] == pytest.approx(0.107)
    assert meta.skeleton[0] == (15, 13)            # 1-based [16, 14] in the file
    assert meta.lower_body == tuple(range(11, 17)) and meta.upper_body == tuple(range(11))
    assert list(meta.flip_index[:5]) == [0, 2, 1, 4, 3]
    assert KeypointMeta.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta


def test_other_keypoint_sets_and_overrides(tmp_path):
    meta = KeypointMeta.from_coco_category({"id": 3, "keypoints": CROWDPOSE, "skeleton": [[13, 14], [14, 1]]})
    # CrowdPose's published sigmas (its head and neck 0.079), found by name.
    assert meta.num_joints == 14 and meta.sigmas_source == "CrowdPose" and meta.sigmas[12:] == (0.079, 0.079)
    assert (0, 1) in meta.flip_pairs and all(12 not in p and 13 not in p for p in meta.flip_pairs)
    assert meta.skeleton == ((12, 13), (13, 0))
    sig = tmp_path / "sigmas.json"
    sig.write_text(json.dumps([0.05] * 14))
    meta = KeypointMeta.from_coco_category({"id": 3, "keypoints": CROWDPOSE}, sigmas_file=str(sig))
    assert meta.sigmas == (0.05,) * 14 and meta.sigmas_source == f"file {sig}"
    meta = KeypointMeta.from_coco_category({"id": 3, "keypoints": CROWDPOSE}, sigmas_file="uniform:0.07")
    assert meta.sigmas == (0.07,) * 14 and meta.sigmas_source == "uniform:0.07"
    sig.write_text("0.1 0.2")
    with pytest.raises(SimplePoseError, match="2 sigmas given for 14 keypoints"):
        KeypointMeta.from_coco_category({"id": 3, "keypoints": CROWDPOSE}, sigmas_file=str(sig))
    # A side with no counterpart needs explicit pairs, by name or index, or none at all.
    names = ["head", "L_paw", "R_paw", "tail_left"]
    with pytest.raises(SimplePoseError, match="'tail_left' reads as 'left_tail' but no keypoint reads as "
                                              "'right_tail'.*--flip-pairs"):
        KeypointMeta.from_coco_category({"id": 1, "keypoints": names})
    meta = KeypointMeta.from_coco_category({"id": 1, "keypoints": names}, flip_pairs="L_paw:R_paw")
    assert meta.flip_pairs == ((1, 2),)
    assert KeypointMeta.from_coco_category({"id": 1, "keypoints": names}, flip_pairs="2:1").flip_pairs == ((1, 2),)
    assert KeypointMeta.from_coco_category({"id": 1, "keypoints": names}, flip_pairs="none").flip_pairs == ()
    # COCO's sigmas are looked up by name, whatever the order and the spelling.
    meta = KeypointMeta.build(["Right-Knee", "nose"], flip_pairs=[])
    assert meta.sigmas == (COCO_SIGMAS["right_knee"], COCO_SIGMAS["nose"]) and meta.sigmas_source == "COCO (cocoapi)"
    assert meta.canonical_names == ("right_knee", "nose") and meta.lower_body == (0,)


def category(k, skeleton):
    """A category of k keypoints named as a face-landmark set would (no sides) with this skeleton."""
    return {"id": 1, "name": "face", "keypoints": [f"point{i}" for i in range(k)], "skeleton": skeleton}


def test_skeleton_quirks_are_dropped_or_fixed_with_a_count(caplog):
    """The skeleton only draws: out-of-range, 0-based and malformed links never refuse the dataset."""
    # COCO's skeleton copied into a 14-keypoint file: the links reaching 15..17 go, the rest stay.
    coco_links = [list(s) for s in COCO_SKELETON]
    meta = KeypointMeta.from_coco_category(dict(category(14, coco_links), keypoints=CROWDPOSE), "cp.json")
    kept = [(a - 1, b - 1) for a, b in COCO_SKELETON if a <= 14 and b <= 14]
    assert meta.skeleton == tuple(kept) and len(kept) == 16
    assert "cp.json: 3 of 19 skeleton links refer to keypoints outside 1..14: dropped; the skeleton only draws" \
        in caplog.text
    caplog.clear()
    # Written 0-based (uses 0, everything within 0..K-1): read as 0-based.
    meta = KeypointMeta.from_coco_category(category(4, [[0, 1], [1, 2], [2, 3]]), "face.json")
    assert meta.skeleton == ((0, 1), (1, 2), (2, 3))
    assert "face.json: the skeleton uses keypoint 0 and stays within 0..3: read as 0-based" in caplog.text
    # 1-based and reaching K: not 0-based.
    assert KeypointMeta.from_coco_category(category(4, [[1, 2], [3, 4]])).skeleton == ((0, 1), (2, 3))
    caplog.clear()
    # Malformed links: dropped and counted; a skeleton that is not a list: ignored.
    meta = KeypointMeta.from_coco_category(category(4, [[1, 2], [1, 2, 3], ["a", "b"], 7, [2, 3]]), "f.json")
    assert meta.skeleton == ((0, 1), (1, 2))
    assert "f.json: 3 of 5 skeleton links are not a pair of keypoint numbers [a, b]: dropped" in caplog.text
    assert KeypointMeta.from_coco_category(category(4, "1-2,2-3"), "f.json").skeleton == ()
    assert "field 'skeleton' is str, not a list of links: ignored" in caplog.text


def test_a_category_without_names_is_named_from_the_annotations(caplog):
    for empty in ({"id": 1, "name": "face", "keypoints": []}, {"id": 1, "name": "face"}):
        meta = KeypointMeta.from_coco_category(empty, "wflw.json", record="categories[0]", num_keypoints=98)
        assert meta.names == tuple(f"kpt_{i}" for i in range(98)) and meta.flip_pairs == () and meta.sigmas is None
        assert "wflw.json: categories[0]: the category lists no keypoint names: named kpt_0..kpt_97" in caplog.text
        with pytest.raises(SimplePoseError, match=r"wflw.json: categories\[0\]: field 'keypoints': lists no "
                                                  "keypoint names and no annotation gives a keypoint count"):
            KeypointMeta.from_coco_category(empty, "wflw.json", record="categories[0]")
    meta = KeypointMeta.from_coco_category({"id": 1, "keypoints": []}, num_keypoints=4, flip_pairs="0:3,1:2")
    assert meta.flip_pairs == ((0, 3), (1, 2))


def test_stored_metadata_keeps_the_sigma_source():
    meta = KeypointMeta.from_coco_category({"id": 1, "keypoints": list(COCO_KEYPOINT_NAMES)})
    stored = json.loads(json.dumps(meta.to_dict()))
    assert stored["sigmas_source"] == "COCO (cocoapi)" and KeypointMeta.from_dict(stored) == meta
    # A manifest written before sigmas_source existed still loads; its sigmas came from the checkpoint.
    del stored["sigmas_source"]
    old = KeypointMeta.from_dict(stored, "old.json")
    assert old.sigmas == meta.sigmas and old.sigmas_source == "checkpoint"
    stored["sigmas"] = None
    assert KeypointMeta.from_dict(stored).sigmas_source is None
    with pytest.raises(SimplePoseError, match=r"old.json: meta: field 'sigmas_source'"):
        KeypointMeta.from_dict(dict(meta.to_dict(), sigmas_source=5), "old.json")


def test_codec_round_trip_and_weights():
    codec = HeatmapCodec((256, 192), stride=4, sigma=2)
    assert codec.heatmap_size == (64, 48)
    rng = np.random.default_rng(0)
    joints = np.concatenate([rng.uniform(10, 180, (30, 1)), rng.uniform(10, 245, (30, 1)),
                             np.full((30, 1), 2)], axis=1).astype(np.float32)
    joints[0] = (-100, 50, 2)    # whole Gaussian off the map
    joints[1] = (-10, 50, 2)     # centre off the map, tail on it: still weighted, as GluonCV does
    joints[2] = (50, 50, 0)      # unlabelled
    heatmaps, weights = codec.encode(joints)
    assert heatmaps.shape == (30, 64, 48) and heatmaps.dtype == np.float32
    assert list(weights[:3]) == [0, 1, 0] and weights[3:].all()
    assert heatmaps[0].max() == 0 and heatmaps[2].max() == 0 and 0 < heatmaps[1].max() < 1
    coords, maxvals = codec.decode(heatmaps[None, 3:])
    # Integer-pixel targets decoded with the quarter step: error at most half a heatmap pixel (2 input px)
    # per axis plus the quarter step.
    err = np.abs(coords[0] - joints[3:, :2])
    assert err.max() <= 3.0 and err.mean() < 1.6
    np.testing.assert_allclose(maxvals, 1.0)
    # The peak is where GluonCV puts it: int(x / 4 + 0.5).
    peak = np.unravel_index(heatmaps[5].argmax(), heatmaps[5].shape)
    assert peak == (int(joints[5, 1] / 4 + 0.5), int(joints[5, 0] / 4 + 0.5))


@pytest.mark.parametrize("method", ["standard", "dark"])
def test_codec_round_trip_anywhere_in_the_input(method):
    """dark decodes its own targets to within 0.05 input px, even at the border; standard rounds (~1.5 px)."""
    codec = HeatmapCodec((128, 96), 4, 2, method)
    rng = np.random.default_rng(4)
    xy = rng.uniform([0, 0], [95, 127], (300, 2))
    xy[:4] = [[0, 0], [95, 127], [0.3, 64], [94.6, 3.2]]        # on and next to the border
    heatmaps, weights = codec.encode(np.c_[xy, np.full(300, 2)].astype(np.float32))
    assert weights.all()
    decoded, scores = codec.decode(heatmaps[None])
    err = np.linalg.norm(decoded[0] - xy, axis=1)
    if method == "dark":
        assert err.max() < 0.05, err.max()
    else:
        # Rounding costs up to 2 px per axis inside; a joint past the last heatmap pixel loses 3 (4.24 px).
        assert 1.2 < err.mean() < 1.8 and err.max() <= 3 * np.sqrt(2) + 1e-3, (err.mean(), err.max())


def test_numpy_core_imports_no_mxnet():
    """meta, data, codec, metrics, evaluation and prediction stay usable outside MXNet (behind ONNX Runtime)."""
    code = ("import sys; import simplepose.meta, simplepose.codec, simplepose.training.metrics, simplepose.data.coco, "
            "simplepose.data.decode, simplepose.data.transforms, simplepose.data.samples, simplepose.synthetic, "
            "simplepose.data.pack, "
            "simplepose.geometry, simplepose.data.boxes, simplepose.runtime.pose, simplepose.scoring.coco, "
            "simplepose.runtime.describe, simplepose.predict.command, simplepose.visualize, simplepose.plot; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mxnet', 'gluoncv')))")
    res = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
