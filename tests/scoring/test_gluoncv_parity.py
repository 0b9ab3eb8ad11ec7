"""Our re-implementations against GluonCV's on the same inputs."""

import mxnet as mx
import numpy as np
import pytest
import gluoncv.data.transforms.presets.simple_pose as gluoncv_preset
from gluoncv.model_zoo import get_model as gluoncv_get_model
from gluoncv.model_zoo.simple_pose.pose_target import SimplePoseGaussianTargetGenerator
from gluoncv.utils.metrics import HeatmapAccuracy as GluonHeatmapAccuracy

from simplepose.codec import HeatmapCodec
from simplepose.data.coco import PersonRecord
from simplepose.data.transforms import Augmentation, TrainTransform
from simplepose.meta import COCO_KEYPOINT_NAMES, KeypointMeta
from simplepose.training.metrics import HeatmapAccuracy
from simplepose.model import get_pose_model

META = KeypointMeta.build(COCO_KEYPOINT_NAMES)


def _joints_3d(joints):
    """Our (K, 3) joints in GluonCV's (K, 3, 2) layout with 0/1 visibility."""
    j3 = np.zeros((len(joints), 3, 2), np.float32)
    j3[:, 0, 0], j3[:, 1, 0] = joints[:, 0], joints[:, 1]
    j3[:, :2, 1] = np.minimum(1, joints[:, 2:3])
    return j3


@pytest.fixture
def person():
    rng = np.random.default_rng(3)
    # A real photo-like image: smooth gradients plus texture, so interpolation matters.
    yy, xx = np.mgrid[0:240, 0:320]
    base = np.stack([xx * 0.7, yy, (xx + yy) * 0.4], axis=-1)
    image = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    joints = np.zeros((17, 3), np.float32)
    joints[:, 0] = rng.uniform(95, 205, 17)
    joints[:, 1] = rng.uniform(45, 205, 17)
    joints[:, 2] = rng.choice([0, 1, 2], 17, p=[0.2, 0.2, 0.6])
    joints[3] = (-300, -300, 2)  # far outside the crop: weight must drop to 0
    bbox = np.array([90, 40, 210, 210], np.float32)
    return image, PersonRecord("mem", 1, 1, bbox, joints, 1.0)


# (randn for scale, random() for the rotation coin, randn for rotation, random() for the flip)
DRAWS = [(0.5, 0.3, 0.7, 0.2), (0.5, 0.3, 0.7, 0.9), (-1.2, 0.9, 0.0, 0.2), (2.5, 0.1, -2.5, 0.7)]


@pytest.mark.parametrize("draw", DRAWS)
def test_train_transform_and_targets_match_gluoncv(person, monkeypatch, draw):
    image, record = person
    z_scale, u_rot, z_rot, u_flip = draw
    normals, uniforms = [z_scale, z_rot], [u_rot, u_flip]
    monkeypatch.setattr(np.random, "randn", lambda: normals.pop(0))
    monkeypatch.setattr(gluoncv_preset.random, "random", lambda: uniforms.pop(0))
    ref = gluoncv_preset.SimplePoseDefaultTrainTransform(
        17, [list(p) for p in META.flip_pairs], image_size=(256, 192), heatmap_size=(64, 48), sigma=2,
        scale_factor=0.30, rotation_factor=40)
    ref_img, ref_hm, ref_w, _ = ref(mx.nd.array(image, dtype="uint8"),
                                    {"bbox": tuple(record.bbox), "joints_3d": _joints_3d(record.joints)}, "mem")
    monkeypatch.undo()

    aug = Augmentation(scale_mult=float(np.clip(z_scale * 0.3 + 1, 0.7, 1.3)),
                       rotation=float(np.clip(z_rot * 40, -80, 80)) if u_rot <= 0.6 else 0.0, flip=u_flip > 0.5)
    inp, joints = TrainTransform(META, (256, 192)).apply(image, record, aug)
    heatmaps, weights = HeatmapCodec((256, 192), stride=4, sigma=2).encode(joints)

    assert weights.sum() > 5 and weights[3 if not aug.flip else 4] == 0
    np.testing.assert_array_equal(weights, ref_w.ravel())
    np.testing.assert_allclose(heatmaps, ref_hm, atol=1e-6)
    diff = np.abs(inp - ref_img.asnumpy())
    # GluonCV flips the whole image then warps with a matrix from cv2.getAffineTransform; we fold the
    # flip into a closed-form matrix. The maps agree to ~1e-5 pixel, but OpenCV quantises source
    # coordinates to 1/32 pixel, so a few output pixels round to the neighbouring sub-pixel step.
    assert diff.mean() < 2e-3 and np.quantile(diff, 0.99) < 0.05
    if aug.rotation == 0 and not aug.flip:
        assert diff.max() < 1e-5


@pytest.mark.parametrize("sigma", [2.0, 3.0, 1.5])
def test_codec_matches_gluoncv_target_generator(sigma):
    rng = np.random.default_rng(0)
    k = 40
    joints = np.zeros((k, 3), np.float32)
    joints[:, :2] = rng.uniform(-40, 230, (k, 2))   # some off the map, some partly, some negative
    joints[:, 2] = rng.choice([0, 1, 2], k)
    ref_hm, ref_w = SimplePoseGaussianTargetGenerator(k, (192, 256), (48, 64), sigma)(_joints_3d(joints))
    heatmaps, weights = HeatmapCodec((256, 192), 4, sigma).encode(joints)
    assert 0 < weights.sum() < k
    np.testing.assert_array_equal(weights, ref_w.ravel())
    np.testing.assert_allclose(heatmaps, ref_hm, atol=1e-6)


def test_heatmap_accuracy_matches_gluoncv():
    """Equal on each single update; over several updates ours pools (batch-size independent)."""
    rng = np.random.default_rng(1)
    codec = HeatmapCodec((128, 96), 4, 2)
    pooled = HeatmapAccuracy()
    all_labels, all_preds = [], []
    for _ in range(3):
        ours, ref = HeatmapAccuracy(), GluonHeatmapAccuracy()
        n, k = 6, 17
        joints = np.concatenate([rng.uniform(0, 96, (n, k, 1)), rng.uniform(0, 128, (n, k, 1)),
                                 rng.choice([0, 2], (n, k, 1))], axis=-1).astype(np.float32)
        labels = np.stack([codec.encode(j)[0] for j in joints])
        noisy = joints.copy()
        noisy[..., :2] += rng.normal(0, 6, (n, k, 2))
        preds = np.stack([codec.encode(np.concatenate([j[:, :2], np.full((k, 1), 2)], 1))[0] for j in noisy])
        preds += rng.uniform(0, 0.01, preds.shape).astype(np.float32)
        ours.update(labels, preds)
        ref.update([mx.nd.array(labels)], [mx.nd.array(preds)])
        assert 0.2 < ours.get()[1] < 0.95
        assert ours.get()[1] == pytest.approx(ref.get()[1], abs=1e-9)
        pooled.update(labels, preds)
        all_labels.append(labels)
        all_preds.append(preds)
    whole = HeatmapAccuracy()
    whole.update(np.concatenate(all_labels), np.concatenate(all_preds))
    assert pooled.get()[1] == pytest.approx(whole.get()[1], abs=1e-12)


@pytest.mark.parametrize("name,k", [("simple_pose_resnet18_v1b", 17), ("simple_pose_resnet50_v1d", 14)])
def test_model_names_counts_and_gluoncv_weights(name, k, tmp_path):
    ref = gluoncv_get_model(name, num_joints=k)
    ref.initialize(mx.init.MSRAPrelu())
    ours = get_pose_model(name, k)
    ours.initialize(mx.init.MSRAPrelu())
    x = mx.nd.random.normal(shape=(2, 3, 64, 96))
    ref_out = ref(x)
    ours(x)
    ours_params, ref_params = ours._collect_params_with_prefix(), ref._collect_params_with_prefix()
    assert list(ours_params) == list(ref_params)
    assert [p.shape for p in ours_params.values()] == [p.shape for p in ref_params.values()]
    count = sum(p.data().size for p in ours_params.values())
    assert count == sum(p.data().size for p in ref_params.values())
    if name == "simple_pose_resnet18_v1b":
        assert count == 15_387_857
    # GluonCV's saved weights load into ours unchanged and give identical outputs, also hybridized.
    ref.save_parameters(str(tmp_path / "gluoncv.params"))
    ours.load_parameters(str(tmp_path / "gluoncv.params"))
    ours.hybridize(static_alloc=True)
    np.testing.assert_array_equal(ours(x).asnumpy(), ref_out.asnumpy())
    assert ours(x).shape == (2, k, 16, 24)
    bn = [b for b in ours.resnet._children.values()] + list(ours.deconv_layers._children.values())
    assert any(type(b).__name__ == "BatchNormCudnnOff" for b in bn)


def test_every_batchnorm_is_cudnn_off():
    net = get_pose_model("simple_pose_resnet18_v1b", 17)
    kinds = set()

    def walk(block):
        kinds.add(type(block).__name__)
        for child in block._children.values():
            walk(child)
    walk(net)
    assert "BatchNormCudnnOff" in kinds and "BatchNorm" not in kinds
