"""
Train on your own keypoints
===========================

Your keypoints are not COCO's 17? Write them in COCO format and train: no code changes. This tutorial takes
COCO + feet, the 23 keypoints of COCO-WholeBody's body and feet (COCO's 17 plus a big toe, a small toe and a
heel per foot), and goes through the command lines: what the names give you (flip pairs, the half-body split,
the OKS sigmas), then a start from a 17-keypoint model with ``--init-from``, evaluation with AP and PCK,
the error analysis and predictions.

Every shell command on this page is run, exactly as shown, while the documentation builds, with the
scratch directory of the build as ``$WORK`` (``work``, a ``pathlib.Path``, in the Python code); the lines
under each command are the end of its output, as it printed them. To follow along, set
``WORK=$(mktemp -d)`` first. The data is the built-in synthetic dataset in its
23-keypoint variant (``--feet``): the same rendered figures with drawn feet. The run is tiny (2 epochs at
64x64 on the CPU), so the model has barely started to learn; on real data the commands are the same.
"""

# %%
# A 23-keypoint dataset in COCO format
# ------------------------------------
# The synthetic generator writes one:
#
# .. code-block:: bash
#
#    python -m simplepose.synthetic --out $WORK/feet --feet \
#        --train-images 48 --val-images 12

# sphinx_gallery_start_ignore
# The scratch folder, and the runner of this page's commands and its picture viewer (docs/tutorials/_helpers.py).
import tempfile
from pathlib import Path

from _helpers import Shell, show

work = Path(tempfile.mkdtemp(prefix="simplepose-own-keypoints-"))
sh = Shell("plot_2_own_keypoints.py", work)
sh(r"""python -m simplepose.synthetic --out $WORK/feet --feet \
    --train-images 48 --val-images 12""")
# sphinx_gallery_end_ignore

# %%
# What makes it a 23-keypoint dataset is only the file's ``categories`` entry: the keypoint names, in the
# order of each annotation's ``keypoints`` triplets, and a skeleton (1-based links, for drawing).
import json

train_ann = work / "feet" / "annotations" / "person_keypoints_train.json"
category = json.loads(train_ann.read_text())["categories"][0]
print(len(category["keypoints"]), "keypoints:", category["keypoints"])
print("skeleton (1-based):", category["skeleton"])

# %%
# Names give the flip pairs and the sigmas
# ----------------------------------------
# A horizontal flip must swap each left keypoint with its right counterpart. Names are read in one canonical
# form (case, spaces, hyphens, underscores and camelCase do not matter; ``L``/``R``/``left``/``right`` as a
# prefix, suffix or word give the side), so ``left_big_toe`` pairs with ``right_big_toe``, as ``toe_L`` would
# with ``toe_R``. Names with ``heel``, ``toe``, ``foot``, ``knee``, ``hip``, ``ankle`` ... are lower body for
# half-body augmentation. Sides also give the drawing colours. The OKS sigmas COCO's AP needs are looked up by
# canonical name in the published tables (COCO, CrowdPose, AI Challenger, MPII, COCO-WholeBody's feet, Halpe,
# AP-10K, Animal-Pose); here COCO's for the body and COCO-WholeBody's for the feet.
from simplepose.meta import KeypointMeta

meta = KeypointMeta.from_coco_category(category, source=str(train_ann))
print("flip pairs:", [f"{meta.names[a]}<->{meta.names[b]}" for a, b in meta.flip_pairs])
print("lower body:", [meta.names[i] for i in meta.lower_body])
print("sigmas from:", meta.sigmas_source)

# %%
# A sided name without its mirror is an error rather than a silent wrong flip: give the pairs yourself with
# ``--flip-pairs a:b,c:d`` (names or 0-based indices), or ``--flip-pairs none``.
from simplepose.errors import SimplePoseError

try:
    KeypointMeta.build(["nose", "left_big_toe", "right_toe"], source="mine.json")
except SimplePoseError as exc:
    print("error:", exc)
marked = {"id": 1, "keypoints": ["toe_L", "ToeR", "nose"]}
print(KeypointMeta.from_coco_category(marked).flip_pairs)

# %%
# Keypoints no table knows (a hand, a face, your robot) get no sigmas: training and evaluation then report
# PCK and the end-point error instead of AP. ``--sigmas FILE`` (K numbers in the file's keypoint order) or
# ``--sigmas uniform:0.05`` give them explicitly.
hand = KeypointMeta.build(["wrist", "thumb1", "thumb2", "index1", "index2"], source="hand.json")
print("hand sigmas:", hand.sigmas)

# %%
# Start from a 17-keypoint model
# ------------------------------
# A new keypoint set rarely starts from scratch. Here a stand-in for your COCO model: two epochs on the
# 17-keypoint synthetic set (with real COCO, a checkpoint of yours, or GluonCV's published weights through
# ``--use-pretrained`` or a plain ``.params`` file).
#
# .. code-block:: bash
#
#    python -m simplepose.train --dataset synthetic --data-dir $WORK/coco17 \
#        --synthetic-train-images 48 --synthetic-val-images 12 \
#        --model simple_pose_resnet18_v1b --input-size 64,64 --batch-size 16 -j 0 \
#        --num-epochs 2 --lr-decay-epoch 2 --log-interval 0 --save-dir $WORK/run17

# sphinx_gallery_start_ignore
sh(r"""python -m simplepose.train --dataset synthetic --data-dir $WORK/coco17 \
    --synthetic-train-images 48 --synthetic-val-images 12 \
    --model simple_pose_resnet18_v1b --input-size 64,64 --batch-size 16 -j 0 \
    --num-epochs 2 --lr-decay-epoch 2 --log-interval 0 --save-dir $WORK/run17""", tail=2)
# sphinx_gallery_end_ignore

# %%
# Train with the command line
# ---------------------------
# The same training command as for COCO, pointed at the files. K = 23 comes from the file; the final
# layer has 23 channels. ``--init-from`` loads every parameter of the 17-keypoint run whose name and shape
# match (the backbone and the deconvolutions) and the final-layer rows of the 17 keypoints both sets name;
# the six foot rows start fresh. The log says what was copied.
#
# .. code-block:: bash
#
#    python -m simplepose.train \
#        --train-ann $WORK/feet/annotations/person_keypoints_train.json \
#        --train-images $WORK/feet/train \
#        --val-ann $WORK/feet/annotations/person_keypoints_val.json \
#        --val-images $WORK/feet/val --init-from $WORK/run17 \
#        --model simple_pose_resnet18_v1b --input-size 64,64 --batch-size 16 -j 0 \
#        --num-epochs 2 --lr-decay-epoch 2 --flip-prob 0.5 --log-interval 0 \
#        --save-dir $WORK/run23

# sphinx_gallery_start_ignore
sh(r"""python -m simplepose.train \
    --train-ann $WORK/feet/annotations/person_keypoints_train.json \
    --train-images $WORK/feet/train \
    --val-ann $WORK/feet/annotations/person_keypoints_val.json \
    --val-images $WORK/feet/val --init-from $WORK/run17 \
    --model simple_pose_resnet18_v1b --input-size 64,64 --batch-size 16 -j 0 \
    --num-epochs 2 --lr-decay-epoch 2 --flip-prob 0.5 --log-interval 0 \
    --save-dir $WORK/run23""", tail=14)
# sphinx_gallery_end_ignore

# %%
# The run directory's ``best.json`` is the manifest of the best checkpoint: the config and the keypoint
# metadata travel with the weights.
run_dir = work / "run23"
manifest = json.loads((run_dir / "best.json").read_text())
print("checkpoint: K =", len(manifest["meta"]["names"]))
print("sigmas of the feet:", manifest["meta"]["sigmas"][17:])

# %%
# The run's pictures
# ------------------
# Training wrote ``plots/training_curves.png``; the plot command also draws one training person under
# random augmentations (note the flips: the foot keypoints change colour with the side) and its 23 target
# heatmaps, from the run's config and metadata (``show(png)`` below draws a PNG with matplotlib):
#
# .. code-block:: bash
#
#    python -m simplepose.plot $WORK/run23 --samples 7

# sphinx_gallery_start_ignore
sh("python -m simplepose.plot $WORK/run23 --samples 7", tail=3)
# sphinx_gallery_end_ignore

# %%
show(run_dir / "plots" / "training_curves.png")

# %%
show(run_dir / "plots" / "augmentations.png")

# %%
show(run_dir / "plots" / "heatmaps.png")

# %%
# Evaluate, with the error analysis
# ---------------------------------
# The evaluation command takes the model, its metadata (and the 23 sigmas) and by default its validation
# files from the checkpoint. It prints COCO's AP and, beside it, PCK (the share of keypoints within 5, 10 and
# 20 % of the box's longer side), its AUC and the end-point error in pixels, which need no sigmas. ``--analysis DIR`` adds the precision-recall curves at each OKS threshold, the AP
# of each keypoint on its own and the people with the lowest OKS.
#
# .. code-block:: bash
#
#    python -m simplepose.evaluate --params $WORK/run23/best.json -j 0 --flip-test \
#        --analysis $WORK/run23/analysis --analysis-worst 6

# sphinx_gallery_start_ignore
sh(r"""python -m simplepose.evaluate --params $WORK/run23/best.json -j 0 --flip-test \
    --analysis $WORK/run23/analysis --analysis-worst 6""", tail=40)
# sphinx_gallery_end_ignore

# %%
show(run_dir / "analysis" / "pr_curves.png")

# %%
show(run_dir / "analysis" / "per_keypoint_ap.png")

# %%
show(run_dir / "analysis" / "worst_instances.png")

# %%
# Draw predictions
# ----------------
# Export the checkpoint (``--no-onnx``: the MXNet files are enough for ``--backend mxnet``):
#
# .. code-block:: bash
#
#    python -m simplepose.export --params $WORK/run23/best.json \
#        --out $WORK/run23/export --no-onnx

# sphinx_gallery_start_ignore
sh(r"""python -m simplepose.export --params $WORK/run23/best.json \
    --out $WORK/run23/export --no-onnx""", tail=2)
# sphinx_gallery_end_ignore

# %%
# and predict on a validation image, one pose per annotated person: the skeleton of the file, left side
# orange, right side blue, with the feet. ``--out`` gets ``STEM.png`` and ``STEM.json``.
#
# .. code-block:: bash
#
#    python -m simplepose.predict --model $WORK/run23/export --backend mxnet \
#        --input $WORK/feet/val/000000000049.jpg \
#        --boxes $WORK/feet/annotations/person_keypoints_val.json \
#        --out $WORK/run23/predict

# sphinx_gallery_start_ignore
sh(r"""python -m simplepose.predict --model $WORK/run23/export --backend mxnet \
    --input $WORK/feet/val/000000000049.jpg \
    --boxes $WORK/feet/annotations/person_keypoints_val.json \
    --out $WORK/run23/predict""", tail=2)
# sphinx_gallery_end_ignore

# %%
show(run_dir / "predict" / "000000000049.png")

# sphinx_gallery_start_ignore
# The build's scratch data (datasets, checkpoints, exports: up to a gigabyte) goes once the page has run.
import shutil  # noqa: E402

shutil.rmtree(work, ignore_errors=True)
# sphinx_gallery_end_ignore
