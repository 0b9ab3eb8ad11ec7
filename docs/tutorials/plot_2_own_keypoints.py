"""
Train on your own keypoints
===========================

Your keypoints are not COCO's 17? Write them in COCO format and train: no code changes. This tutorial takes
COCO + feet, the 23 keypoints of COCO-WholeBody's body and feet (COCO's 17 plus a big toe, a small toe and a
heel per foot), and goes through the command lines: what the names give you (flip pairs, the half-body split),
how to give the OKS sigmas the evaluation needs, then train, evaluate, analyse the errors and draw.

The data is the built-in synthetic dataset in its 23-keypoint variant (``--feet``): the same rendered figures
with drawn feet. The run is tiny (3 epochs at 64x64 on the CPU), so the model has barely started to learn;
the commands are the ones you would run on real data.
"""

# %%
# A 23-keypoint dataset in COCO format
# ------------------------------------
# ``python -m simplepose.synthetic --out DIR --feet`` writes it; here the same from Python. What makes it
# a 23-keypoint dataset is only the file's ``categories`` entry: the keypoint names, in the order of each
# annotation's ``keypoints`` triplets, and a skeleton (1-based links, for drawing).
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import simplepose
from simplepose.synthetic import generate

ROOT = Path(simplepose.__file__).resolve().parents[1]      # the repository: the command lines live there
work = Path(tempfile.mkdtemp(prefix="simplepose-own-keypoints-"))
paths = generate(work / "feet", num_train_images=48, num_val_images=12, seed=0, feet=True)
category = json.loads(Path(paths["train_ann"]).read_text())["categories"][0]
print(len(category["keypoints"]), "keypoints:", category["keypoints"])
print("skeleton (1-based):", category["skeleton"])

# %%
# Names give the flip pairs
# -------------------------
# A horizontal flip must swap each left keypoint with its right counterpart. The pairs are found by swapping
# ``left`` and ``right`` in the names (any case: ``Left_Toe``/``Right_Toe``, ``LEFT_HEEL``/``RIGHT_HEEL``),
# so ``left_big_toe`` pairs with ``right_big_toe``. Names with ``heel``, ``toe``, ``foot``, ``knee``, ``hip``,
# ``ankle`` ... are lower body for half-body augmentation. Sides also give the drawing colours.
from simplepose.meta import KeypointMeta

meta = KeypointMeta.from_coco_category(category, source=paths["train_ann"])
print("flip pairs:", [f"{meta.names[a]}<->{meta.names[b]}" for a, b in meta.flip_pairs])
print("lower body:", [meta.names[i] for i in meta.lower_body])

# %%
# A sided name without its mirror is an error rather than a silent wrong flip. When your names mark sides
# another way (``toe_L``, ``toe_R``), give the pairs: ``--flip-pairs toe_L:toe_R,heel_L:heel_R`` (names or
# 0-based indices).
from simplepose.errors import SimplePoseError

try:
    KeypointMeta.build(["nose", "left_big_toe", "right_toe"], source="mine.json")
except SimplePoseError as exc:
    print("error:", exc)
print(KeypointMeta.from_coco_category({"id": 1, "keypoints": ["toe_L", "toe_R", "nose"]},
                                      flip_pairs="toe_L:toe_R").flip_pairs)

# %%
# OKS sigmas come from a file
# ---------------------------
# COCO's AP compares a prediction with the ground truth by OKS, which needs each keypoint's sigma (how far
# annotators disagree on it). simplepose knows COCO's sigmas by name; for other keypoints give K numbers in a
# file (a JSON list, or numbers separated by spaces, commas or newlines), in the file's keypoint order:
# ``--sigmas FILE`` to training (stored in the checkpoint) or to evaluation. Here COCO's 17 and
# COCO-WholeBody's published foot sigmas. Without them training still runs, but reports no AP.
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SIGMAS, FOOT_SIGMAS, load_sigmas

sigma_file = work / "sigmas_coco_feet.json"
sigma_file.write_text(json.dumps([COCO_SIGMAS[n] for n in COCO_KEYPOINT_NAMES] + list(FOOT_SIGMAS)))
print(dict(zip(meta.names[17:], load_sigmas(sigma_file, meta.num_joints)[17:])))


# %%
# Train with the command line
# ---------------------------
# The same ``train_simple_pose.py`` as for COCO, pointed at the files. K = 23 comes from the file; the final
# layer has 23 channels. (This page runs each command in a subprocess and shows its last lines.)
def run(*args: str, tail: int = 6) -> None:
    """Run a command line of the repository, print it and the last lines of its output."""
    res = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    lines = (res.stdout + res.stderr).strip().splitlines()
    # $WORK stands for this page's scratch directory
    print(("$ python " + " ".join(map(str, args)) + "\n" + "\n".join(lines[-tail:])).replace(str(work), "$WORK"))
    if res.returncode:
        raise RuntimeError(f"exit status {res.returncode}")


run_dir = work / "run23"
run("train_simple_pose.py", "--train-ann", paths["train_ann"], "--train-images", paths["train_images"],
    "--val-ann", paths["val_ann"], "--val-images", paths["val_images"], "--sigmas", sigma_file,
    "--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "16", "-j", "0",
    "--num-epochs", "3", "--lr-decay-epoch", "3", "--flip-prob", "0.5", "--log-interval", "0",
    "--save-dir", run_dir, tail=4)
manifest = json.loads((run_dir / "best.json").read_text())
print("checkpoint: K =", len(manifest["meta"]["names"]), "| sigmas of the feet:", manifest["meta"]["sigmas"][17:])

# %%
# The run's pictures
# ------------------
# Training wrote ``plots/training_curves.png``; ``python -m simplepose.plot RUN_DIR`` also draws one training
# person under random augmentations (note the flips: the foot keypoints change colour with the side) and its
# 23 target heatmaps, from the run's config and metadata.
run("-m", "simplepose.plot", run_dir, "--samples", "7", tail=3)


def show(png: Path, width: float = 10) -> None:
    image = plt.imread(png)
    fig, ax = plt.subplots(figsize=(width, width * image.shape[0] / image.shape[1]))
    ax.imshow(image)
    ax.set_axis_off()


show(run_dir / "plots" / "training_curves.png")
show(run_dir / "plots" / "augmentations.png")
show(run_dir / "plots" / "heatmaps.png")

# %%
# Evaluate, with the error analysis
# ---------------------------------
# ``eval_simple_pose.py`` takes the model, its metadata (and the 23 sigmas) and by default its validation files
# from the checkpoint. ``--analysis DIR`` adds the precision-recall curves at each OKS threshold, the AP of each
# keypoint on its own and the people with the lowest OKS.
run("eval_simple_pose.py", "--params", run_dir / "best.json", "-j", "0", "--flip-test",
    "--analysis", run_dir / "analysis", "--analysis-worst", "6", tail=40)

# %%
show(run_dir / "analysis" / "pr_curves.png", 6)
show(run_dir / "analysis" / "per_keypoint_ap.png", 6)
show(run_dir / "analysis" / "worst_instances.png")

# %%
# Draw predictions
# ----------------
# Export the checkpoint and predict on a validation image, one pose per annotated person: the skeleton of the
# file, left side orange, right side blue, with the feet.
image = sorted(Path(paths["val_images"]).glob("*.jpg"))[0]
run("-m", "simplepose.export", "--params", run_dir / "best.json", "--out", run_dir / "export", "--no-onnx", tail=2)
run("-m", "simplepose.predict", "--model", run_dir / "export", "--backend", "mxnet", "--image", image,
    "--boxes", paths["val_ann"], "--out", run_dir / "predict.png", "--json", run_dir / "predict.json", tail=2)
show(run_dir / "predict.png", 6)
