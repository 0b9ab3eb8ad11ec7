"""Keypoint metadata derivation and the heatmap codec on its own."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simplepose.codec import HeatmapCodec
from simplepose.errors import SimplePoseError
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SIGMAS, COCO_SKELETON, KeypointMeta

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
    assert meta.num_joints == 14 and meta.sigmas is None
    assert (0, 1) in meta.flip_pairs and all(12 not in p and 13 not in p for p in meta.flip_pairs)
    assert meta.skeleton == ((12, 13), (13, 0))
    sig = tmp_path / "sigmas.json"
    sig.write_text(json.dumps([0.05] * 14))
    meta = KeypointMeta.from_coco_category({"id": 3, "keypoints": CROWDPOSE}, sigmas_file=str(sig))
    assert meta.sigmas == (0.05,) * 14
    sig.write_text("0.1 0.2")
    with pytest.raises(SimplePoseError, match="2 sigmas given for 14 keypoints"):
        KeypointMeta.from_coco_category({"id": 3, "keypoints": CROWDPOSE}, sigmas_file=str(sig))
    # Names that do not pair by left/right need explicit pairs, by name or index.
    names = ["head", "L_paw", "R_paw", "leftish_tail"]
    with pytest.raises(SimplePoseError, match="leftish_tail.*--flip-pairs"):
        KeypointMeta.from_coco_category({"id": 1, "keypoints": names})
    meta = KeypointMeta.from_coco_category({"id": 1, "keypoints": names}, flip_pairs="L_paw:R_paw")
    assert meta.flip_pairs == ((1, 2),)
    assert KeypointMeta.from_coco_category({"id": 1, "keypoints": names}, flip_pairs="2:1").flip_pairs == ((1, 2),)
    # COCO's sigmas are looked up by name, whatever the order.
    meta = KeypointMeta.build(["right_knee", "nose"], flip_pairs=[])
    assert meta.sigmas == (COCO_SIGMAS["right_knee"], COCO_SIGMAS["nose"])


def test_bad_skeleton_is_named():
    with pytest.raises(SimplePoseError, match=r"link \[1, 9\]"):
        KeypointMeta.from_coco_category({"id": 1, "keypoints": ["a", "b"], "skeleton": [[1, 9]]}, source="f.json")


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
    code = ("import sys; import simplepose.meta, simplepose.codec, simplepose.metrics, simplepose.data.coco, "
            "simplepose.data.decode, simplepose.data.transforms, simplepose.data.samples, simplepose.synthetic, "
            "simplepose.data.pack, "
            "simplepose.geometry, simplepose.boxes, simplepose.pose_inference, simplepose.scoring.coco, "
            "simplepose.deploy, simplepose.predict, simplepose.visualize, simplepose.plot; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mxnet', 'gluoncv')))")
    res = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
