"""
Dive deep into training a Simple Pose model
===========================================

``train_simple_pose.py`` runs the whole recipe with one command. This tutorial takes it apart and runs each
piece by hand, on the CPU, in seconds: the dataset and its keypoint metadata, the augmentation and the target
heatmaps, the model, the loss, the optimiser and its schedule, the accuracy metric, a short hybridized
training loop, COCO AP evaluation and the export for deployment.

Everything runs on the built-in synthetic dataset (rendered stick figures in COCO format) with a small input
(128x96) and a ResNet-18 trained from scratch for a few epochs, so the figures below show a model that has only
just started to learn: every number on this page comes from the short run the documentation build made.
``make demo`` trains the same model for 11 epochs on 600 images; its figures (validation AP 0.892,
HeatmapAccuracy 0.807, from ``runs/demo/metrics.jsonl``) are on the :doc:`../guide/demo` page.
"""

# %%
# The dataset and its keypoint metadata
# -------------------------------------
# :func:`simplepose.synthetic.generate` writes a small COCO-format dataset: JPEG images and
# ``person_keypoints_{train,val}.json`` with COCO's 17 keypoint names and skeleton. Any COCO-format file
# is read the same way.
import tempfile
from pathlib import Path

import numpy as np

from simplepose.data.coco import COCOKeyPoints
from simplepose.synthetic import generate

work = Path(tempfile.mkdtemp(prefix="simplepose-dive-deep-"))
paths = generate(work / "data", num_train_images=60, num_val_images=16, seed=0)
train = COCOKeyPoints(paths["train_ann"], paths["train_images"])
val = COCOKeyPoints(paths["val_ann"], paths["val_images"], meta=train.meta)
print(f"{len(train)} training and {len(val)} validation people")

# %%
# :class:`~simplepose.meta.KeypointMeta` is the one home of every per-dataset keypoint fact. It comes from the
# file's ``categories`` entry: the names and skeleton as written, the left/right flip pairs found by swapping
# ``left`` and ``right`` in the names, and the OKS sigmas of the COCO evaluation (known for COCO's names; any
# other set gives them in a file, see the next tutorial). Nothing else in the code knows that there are 17.
meta = train.meta
print("keypoints:", meta.num_joints, meta.names)
print("flip pairs:", [f"{meta.names[a]}<->{meta.names[b]}" for a, b in meta.flip_pairs])
print("OKS sigmas:", meta.sigmas)
print("lower body (for half-body crops):", [meta.names[i] for i in meta.lower_body])

# %%
# The ground truth of one image. Colours come from the metadata's sides: the person's left orange, right blue,
# centre green (the synthetic figures face the camera, so their left is on the image's right).
import matplotlib.pyplot as plt

from simplepose.visualize import draw_poses

image, record = train[0]
people = np.stack([r.joints for r in train.records if r.image_id == record.image_id])
fig, ax = plt.subplots(figsize=(6, 4.5))
ax.imshow(image)
draw_poses(ax, people, meta, kpt_thresh=0)  # column 3 = COCO visibility: draw v >= 1
ax.set_axis_off()

# %%
# The transform: random crops of one person
# -----------------------------------------
# Each person is cropped by one affine warp: the box, padded by 1.25 and widened to the input's aspect ratio,
# is scaled by ``clip(N(1, 0.3), 0.7, 1.3)``, rotated by ``clip(N(0, 40), -80, 80)`` degrees with probability
# 0.6 and mirrored with probability 0.5 (GluonCV's distributions). A mirrored person must also swap its left
# and right joints, or the model learns that left is right. The picture draws the joints *after* the
# transform with their side colours: on the colour-coded synthetic figures (left limbs warm, right limbs cool)
# a flip that forgot to swap would show orange joints on cool limbs.
from simplepose.data.transforms import TrainTransform
from simplepose.plot import pick_person
from simplepose.visualize import augmentation_figure

INPUT = (128, 96)            # model input (height, width), pixels
transform = TrainTransform(meta, INPUT, scale_factor=0.30, rotation_factor=40,
                           flip_prob=0.5)
person = pick_person(train)
image, record = train[person]
fig = augmentation_figure(image, record, transform, np.random.default_rng(1), n=7)

# %%
# The targets: one Gaussian heatmap per keypoint
# ----------------------------------------------
# :class:`~simplepose.codec.HeatmapCodec` turns the crop's joints into K heatmaps at a quarter of the input
# resolution (stride 4), a Gaussian of sigma 2 heatmap pixels on each joint, and a weight per joint: 0 for an
# unlabelled joint (v=0) or one whose Gaussian falls off the map. The same object decodes the network's
# heatmaps, so training targets and inference cannot drift apart.
from simplepose.codec import HeatmapCodec
from simplepose.visualize import denormalize, heatmap_figure

codec = HeatmapCodec(INPUT, stride=4, sigma=2)
inp, joints = transform(image, record, np.random.default_rng(3))
heatmaps, weights = codec.encode(joints)
print("input", inp.shape, inp.dtype, "| heatmaps", heatmaps.shape, "| weights", weights)
crop = denormalize(inp, transform.mean, transform.std)
fig = heatmap_figure(crop, heatmaps, meta, joints)

# %%
# The model and its summary
# -------------------------
# A ResNet backbone (stride 32), three 4x4 stride-2 deconvolutions with 256 channels each and a 1x1
# convolution to K heatmaps: a 128x96 input gives 32x24 heatmaps. Parameter names follow GluonCV's
# ``simple_pose_resnet18_v1b``, so its published weights load as they are.
import mxnet as mx

from simplepose.model import get_pose_model

mx.random.seed(0)
net = get_pose_model("simple_pose_resnet18_v1b", meta.num_joints)
net.initialize(mx.init.MSRAPrelu())
net.summary(mx.nd.zeros((1, 3) + INPUT))

# %%
# BatchNormCudnnOff, and why
# --------------------------
# Every BatchNorm of the model, in the backbone and in the head, is GluonCV's ``BatchNormCudnnOff``: a
# ``BatchNorm`` with ``cudnn_off=True``, which makes MXNet use its own BatchNorm kernel instead of cuDNN's on a
# GPU. cuDNN's BatchNorm has produced NaNs and divergence in this model on some GPUs; the native kernel
# computes the same function without that failure. On the CPU both are the same code.
from gluoncv.nn import BatchNormCudnnOff
from mxnet.gluon import nn


def blocks(block):
    yield block
    for child in block._children.values():
        yield from blocks(child)


norms = [b for b in blocks(net) if isinstance(b, nn.BatchNorm)]
cudnn_off = sum(isinstance(b, BatchNormCudnnOff) for b in norms)
print(f"{len(norms)} BatchNorm layers, {cudnn_off} of them BatchNormCudnnOff")

# %%
# The loss: weighted L2
# ---------------------
# The loss is the mean squared error between predicted and target heatmaps (``gluon.loss.L2Loss``, which
# halves it), each joint's map multiplied by its weight: an unlabelled joint teaches nothing, whatever the
# network predicts for it.
from mxnet import gluon

loss_fn = gluon.loss.L2Loss()
target = mx.nd.array(heatmaps[None])
weight = mx.nd.array(weights[None, :, None, None])  # (1, K, 1, 1): broadcast over maps
prediction = mx.nd.zeros_like(target)
print("loss of an all-zero prediction:", loss_fn(prediction, target, weight).asscalar())
unlabelled = int(np.argmin(weights)) if weights.min() == 0 else None
if unlabelled is not None:
    prediction[0, unlabelled] = 1.0  # garbage on a joint of weight 0 ...
    print(f"... with garbage on {meta.names[unlabelled]} (weight 0):",
          loss_fn(prediction, target, weight).asscalar())

# %%
# Adam and the step schedule
# --------------------------
# The paper trains with Adam at a learning rate of 1e-3 for 140 epochs, divided by 10 at epochs 90 and 120.
# :func:`simplepose.training.build.lr_schedule` builds GluonCV's ``LRSequential`` (linear warm-up, then step, poly or
# cosine) as a function of the update count from the command line's flags; here the defaults, and the same
# with 5 warm-up epochs from 1e-4 (``--warmup-epochs 5 --warmup-lr 1e-4``).
from dataclasses import replace

from simplepose.training.build import lr_schedule
from simplepose.training.optimizer_state import Trainer
from simplepose.config import TrainConfig

ITERS = 100  # updates per epoch (dataset size / batch size)
defaults = TrainConfig.from_dict({})  # the command line's defaults, frozen
fig, ax = plt.subplots(figsize=(7, 3))
warmup = {"warmup_epochs": 5, "warmup_lr": 1e-4}
for label, extra in (("step (default)", {}), ("warm-up 5 epochs + step", warmup)):
    schedule = lr_schedule(replace(defaults, **extra), ITERS)
    updates = np.arange(0, defaults.num_epochs * ITERS, 10)
    ax.plot(updates / ITERS, [schedule(int(u)) for u in updates], label=label)
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("learning rate")
ax.legend()
ax.grid(alpha=0.3)

# %%
# The metric: HeatmapAccuracy
# ---------------------------
# The training log's accuracy is GluonCV's ``HeatmapAccuracy``: the share of labelled joints whose predicted
# peak lies within half a normalised distance (a tenth of the heatmap size) of the target's peak.
# :class:`simplepose.training.metrics.HeatmapAccuracy` pools hits and counts over batches, so a validation set scores
# the same at any batch size.
from simplepose.training.metrics import HeatmapAccuracy

for shift in (0, 1, 2, 4):
    metric = HeatmapAccuracy()
    moved = np.roll(heatmaps[None], shift, axis=-1)  # every peak `shift` pixels right
    metric.update(heatmaps[None], moved)
    print(f"prediction {shift} heatmap pixels off: accuracy {metric.get()[1]:.2f}")

# %%
# A short hybridized training loop
# --------------------------------
# The loop of :class:`simplepose.training.loop.EpochLoop`, written out. :class:`~simplepose.data.samples.PoseSamples` gives
# (crop, heatmaps, weights) per person, with augmentation keyed by (seed, epoch, index) so that a run is
# repeatable. The crop is the warped uint8 BGR picture: the loader moves a quarter of the bytes of a float
# input, and :class:`~simplepose.runtime.mxnet.InputNormalizer` makes the normalised float input of a whole
# batch on its device. ``hybridize`` compiles the network into one static graph. As ``make demo`` does on these
# colour-coded figures, flips are off and the jitter milder (scale 0.25, rotation 30): a flip correctly swaps
# the labels, which then contradict the limb colours. To keep this page's build short on a CPU, the loop
# trains at a 64x64 input (the network is fully convolutional: the same weights take any multiple of 32) for
# four epochs of about 140 people: the model only begins to find the joints.
import time

from mxnet import autograd

from simplepose.data.samples import EpochSampler, PoseSamples
from simplepose.runtime.mxnet import InputNormalizer

EPOCHS, BATCH = 4, 16
TRAIN_INPUT = (64, 64)
train_codec = HeatmapCodec(TRAIN_INPUT, stride=4, sigma=2)
train_tf = TrainTransform(meta, TRAIN_INPUT, scale_factor=0.25, rotation_factor=30,
                          flip_prob=0)
sampler = EpochSampler(len(train), shuffle=True, seed=0)
samples = PoseSamples(train, train_tf, train_codec, seed=0)
loader = gluon.data.DataLoader(samples, batch_size=BATCH, sampler=sampler,
                               last_batch="discard", num_workers=0)
config = replace(defaults, model="simple_pose_resnet18_v1b", input_size=TRAIN_INPUT,
                 num_epochs=EPOCHS, lr_decay_epoch=(EPOCHS - 1,), flip_prob=0.0,
                 scale_factor=0.25, rotation_factor=30.0, num_joints=meta.num_joints,
                 train_ann=paths["train_ann"], train_images=paths["train_images"],
                 val_ann=paths["val_ann"], val_images=paths["val_images"])
to_input = InputNormalizer(train_tf.mean, train_tf.std)
net.hybridize(static_alloc=True, static_shape=True)
schedule = lr_schedule(config, len(loader))
# simplepose's Trainer is gluon.Trainer whose checkpointed optimizer state is arrays + JSON, never a pickle.
trainer = Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3, "lr_scheduler": schedule})
history = []
for epoch in range(1, EPOCHS + 1):
    sampler.set_epoch(epoch)
    metric, loss_sum, seen, tic = HeatmapAccuracy(), 0.0, 0, time.time()
    for x, y, w in loader:
        with autograd.record():
            out = net(to_input(x))
            loss = loss_fn(out, y, w)
        loss.backward()
        trainer.step(x.shape[0])
        loss_sum += float(loss.sum().asscalar())
        seen += x.shape[0]
        metric.update(y.asnumpy(), out.asnumpy())
    row = {"epoch": epoch, "train_loss": loss_sum / seen, "lr": trainer.learning_rate,
           "train_acc": metric.get()[1]}
    history.append(row)
    print(f"epoch {epoch}: loss {row['train_loss']:.5f}, "
          f"HeatmapAccuracy {row['train_acc']:.3f}, lr {row['lr']:g}, "
          f"{seen / (time.time() - tic):.0f} samples/s")

# %%
# :func:`simplepose.visualize.training_curves_figure` draws such rows (a run's ``metrics.jsonl``;
# ``python -m simplepose.plot RUN_DIR`` writes the same picture for a run of the command line).
from simplepose.visualize import training_curves_figure

fig = training_curves_figure(history, title="the loop above")

# %%
# Evaluation with COCO AP
# -----------------------
# :mod:`simplepose.runtime.pose` is the one path from a box to keypoints that validation in training,
# ``eval_simple_pose.py`` and prediction share: it crops each ground-truth box as training's validation samples
# are cropped, runs the network (normalising on its device), decodes the heatmaps and maps them back to image
# pixels. :mod:`simplepose.scoring` rescores each pose and runs pycocotools' ``COCOeval`` with the metadata's
# OKS sigmas; ``analysis=True`` keeps the precision-recall curves and every person's OKS. No flip test here
# (``flip_index=meta.flip_index`` would add it): this model never saw a flip, and on the colour-coded synthetic
# figures it reads the side from the colour, so a mirrored crop puts every joint on the wrong side.
from simplepose.data.boxes import gt_boxes
from simplepose.runtime.mxnet import mxnet_forward
from simplepose.runtime.pose import BoxCrops, predict_keypoints
from simplepose.scoring.coco import evaluate_keypoints, load_coco_gt

boxes = gt_boxes(val)
crops = BoxCrops(boxes.image_paths, boxes.boxes, TRAIN_INPUT)
live = mxnet_forward(net, [mx.cpu()], train_tf.mean, train_tf.std)
batches = (np.stack([crops[i] for i in range(s, min(s + 32, len(crops)))])
           for s in range(0, len(crops), 32))
keypoints = predict_keypoints(live, batches, crops.crops, train_codec)
ground_truth = load_coco_gt(val)
report, results = evaluate_keypoints(ground_truth, keypoints, boxes, crops.areas, meta,
                                     val.category_id, analysis=True)
print("\n".join(report.lines()))

# %%
# The precision-recall curves behind the AP, one per OKS threshold (``eval_simple_pose.py --analysis DIR``
# writes this picture, the per-keypoint AP and the worst people for any checkpoint):
from simplepose.visualize import pr_curves_figure, worst_instances_figure

fig = pr_curves_figure(report.analysis)

# %%
# The people with the lowest OKS, prediction solid and ground truth dashed:
from simplepose.data.coco import read_image

worst = report.analysis.instances[:4]
images = [read_image(val.image_files[i.image_id], "worst") for i in worst]
fig = worst_instances_figure(worst, images, meta)

# %%
# Export
# ------
# A checkpoint (parameters, trainer state and a manifest with the config and the keypoint metadata) exports to
# a hybridized MXNet symbol, optionally ONNX, and ``deploy.json`` with everything needed to crop, run and
# decode. The reloaded export gives the live network's heatmaps.
import json

from simplepose.export.command import export_checkpoint
from simplepose.rundir.checkpoint import save_checkpoint
from simplepose.runtime.load import load_model

prefix = work / "run" / f"simple_pose_resnet18_v1b-epoch{EPOCHS:04d}"
manifest = save_checkpoint(prefix, net, trainer, EPOCHS, config.to_dict(),
                           meta.to_dict())
export_dir = work / "run" / "export"
description = export_checkpoint(manifest, export_dir, with_onnx=False)
print(sorted(p.name for p in export_dir.iterdir()))
graph = json.loads((export_dir / description["symbol"]).read_text())
bn_nodes = [n for n in graph["nodes"] if n["op"] == "BatchNorm"]
print(f"{len(bn_nodes)} BatchNorm nodes in the exported graph, cudnn_off on "
      f"{sum(n['attrs'].get('cudnn_off') == 'True' for n in bn_nodes)}")
exported = load_model(export_dir, backend="mxnet")
x = np.stack([crops[0], crops[1]])
difference = np.abs(exported.forward(x) - live(x)).max()
print(f"export ({exported.backend}) vs live network: max abs difference {difference:.2g}")

# sphinx_gallery_start_ignore
# The build's scratch data (datasets, checkpoints, exports: up to a gigabyte) goes once the page has run.
import shutil  # noqa: E402

shutil.rmtree(work, ignore_errors=True)
# sphinx_gallery_end_ignore
