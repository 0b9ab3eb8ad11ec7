"""Writing the dataset: images and COCO JSON to disk, the manifest that marks it complete, reuse.

Layout (COCO 2017's, with split names ``train`` and ``val``)::

    DIR/annotations/person_keypoints_train.json
    DIR/annotations/person_keypoints_val.json
    DIR/train/000000000001.jpg ...
    DIR/val/000000000601.jpg ...
    DIR/synthetic.json            # the DatasetSpec as JSON, written last: the "complete" marker

Image ``i`` of a split is rendered from ``numpy.random.default_rng([seed, split, i])`` (split 0 = train,
1 = val), so an image does not depend on the others or on the split sizes. Image ids are ``1..num_train``
for train and continue after that for val; annotation ids are unique across both files.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from simplepose.errors import SimplePoseError
from simplepose.io import atomic_write_bytes, atomic_write_text, read_json
from simplepose.tempfiles import temporary_dir
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SKELETON, FOOT_KEYPOINT_NAMES, FOOT_SKELETON
from simplepose.synthetic.scene import render_image

log = logging.getLogger(__name__)

#: Bump whenever the rendered content changes, so ensure_dataset() regenerates.
GENERATOR_VERSION = 1

MANIFEST = "synthetic.json"
_JPEG_QUALITY = 90


@dataclass(frozen=True)
class DatasetSpec:
    """What :func:`generate` writes; the keyword arguments of :func:`generate` and :func:`ensure_dataset`.

    Attributes:
        num_train_images, num_val_images: images per split (>= 0).
        seed: base seed of every image's random generator.
        image_size: (width, height) of every image, pixels, each >= 32.
        feet: also draw and label COCO-WholeBody's six foot keypoints (23 keypoints: COCO's 17 then
            meta.FOOT_KEYPOINT_NAMES; their OKS sigmas, sigma_tables.FOOT_SIGMAS, are found by name), drawn
            as a sole with three small discs below each ankle, their visibility from the owner map like every joint.
    """

    num_train_images: int = 600
    num_val_images: int = 100
    seed: int = 0
    image_size: tuple[int, int] = (320, 240)
    feet: bool = False

    def __post_init__(self) -> None:
        # Plain Python ints and bools (NumPy integers would not go into JSON), then checked.
        for name in ("num_train_images", "num_val_images", "seed"):
            object.__setattr__(self, name, int(getattr(self, name)))
        w, h = (int(v) for v in self.image_size)
        object.__setattr__(self, "image_size", (w, h))
        object.__setattr__(self, "feet", bool(self.feet))
        for name in ("num_train_images", "num_val_images"):
            if getattr(self, name) < 0:
                raise SimplePoseError(f"synthetic dataset: {name} is {getattr(self, name)}; give a count >= 0")
        if w < 32 or h < 32:
            raise SimplePoseError(f"synthetic dataset: image_size {(w, h)} is too small; "
                                  "give at least 32 x 32 pixels")

    def manifest(self) -> dict[str, Any]:
        """The JSON form stored as synthetic.json (and compared to decide whether a dataset is complete)."""
        params: dict[str, Any] = {
            "generator_version": GENERATOR_VERSION,
            "num_train_images": self.num_train_images,
            "num_val_images": self.num_val_images,
            "seed": self.seed,
            "image_size": list(self.image_size),
        }
        if self.feet:   # only then, so that the manifests of 17-keypoint datasets stay as they were
            params["feet"] = True
        return params


def dataset_paths(out_dir: str | os.PathLike) -> dict[str, str]:
    """``{'train_ann', 'train_images', 'val_ann', 'val_images'}`` -> path strings of the dataset in out_dir."""
    out = Path(out_dir)
    return {
        "train_ann": str(out / "annotations" / "person_keypoints_train.json"),
        "train_images": str(out / "train"),
        "val_ann": str(out / "annotations" / "person_keypoints_val.json"),
        "val_images": str(out / "val"),
    }


def _categories(feet: bool) -> list[dict[str, Any]]:
    names, skeleton = COCO_KEYPOINT_NAMES, COCO_SKELETON
    if feet:
        names, skeleton = names + FOOT_KEYPOINT_NAMES, skeleton + FOOT_SKELETON
    return [{
        "id": 1, "name": "person", "supercategory": "person",
        "keypoints": list(names),
        "skeleton": [list(link) for link in skeleton],
    }]


def _annotation_doc(split: str, spec: DatasetSpec, images: list[dict[str, Any]],
                    annotations: list[dict[str, Any]]) -> dict[str, Any]:
    """The COCO document of one split."""
    return {
        "info": {
            "description": "simplepose synthetic stick-figure keypoints",
            "version": str(GENERATOR_VERSION),
            "year": 2024,
            # The generator's former module name: kept so that the files stay byte-identical.
            "contributor": "simplepose.data.synthetic",
            "split": split,
            "seed": spec.seed,
        },
        "licenses": [{"id": 1, "name": "CC0 1.0 (synthetic data)",
                      "url": "https://creativecommons.org/publicdomain/zero/1.0/"}],
        "images": images,
        "annotations": annotations,
        "categories": _categories(spec.feet),
    }


def _replace_dir(new: Path, final: Path) -> None:
    """Put directory new in final's place; an old final is moved aside first, then deleted."""
    if final.exists():
        trash = temporary_dir(final.parent, f"{final.name}.old")
        os.replace(final, trash / final.name)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(new, final)


def _write_split(out_dir: Path, split: str, split_code: int, n_images: int, first_image_id: int,
                 first_ann_id: int, spec: DatasetSpec) -> int:
    """Render one split into a temporary directory, move it into place, then write its JSON.

    Returns the next free annotation id.
    """
    w, h = spec.image_size
    tmp_dir = temporary_dir(out_dir, split)
    os.chmod(tmp_dir, 0o755)  # mkdtemp makes 0700; datasets are meant to be shared
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    ann_id = first_ann_id
    try:
        for i in range(n_images):
            image_id = first_image_id + i
            img, anns = render_image(np.random.default_rng([spec.seed, split_code, i]), w, h, spec.feet)
            file_name = f"{image_id:012d}.jpg"
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for {file_name}")
            # No atomic write per image: the whole directory is renamed into place below.
            (tmp_dir / file_name).write_bytes(buf.tobytes())
            images.append({"id": image_id, "file_name": file_name, "width": w, "height": h})
            for ann in anns:
                annotations.append({"id": ann_id, "image_id": image_id, **ann})
                ann_id += 1
        _replace_dir(tmp_dir, out_dir / split)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    doc = _annotation_doc(split, spec, images, annotations)
    atomic_write_bytes(dataset_paths(out_dir)[f"{split}_ann"], json.dumps(doc, separators=(",", ":")).encode("utf-8"))
    log.info("synthetic %s: %d images, %d annotations (%d with keypoints) -> %s", split, len(images),
             len(annotations), sum(1 for a in annotations if a["num_keypoints"] > 0), out_dir / split)
    return ann_id


def _generate(out: Path, spec: DatasetSpec) -> dict[str, str]:
    """Write the dataset of spec into out; see :func:`generate`."""
    t0 = time.perf_counter()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimplePoseError(f"{out}: cannot create the dataset directory ({exc.strerror}); "
                              "give a directory that can be written") from None
    manifest = out / MANIFEST
    if manifest.exists():
        manifest.unlink()  # the dataset is incomplete from here until rewritten
    (out / "annotations").mkdir(exist_ok=True)
    next_ann = _write_split(out, "train", 0, spec.num_train_images, 1, 1, spec)
    _write_split(out, "val", 1, spec.num_val_images, spec.num_train_images + 1, next_ann, spec)
    atomic_write_text(manifest, json.dumps(spec.manifest(), indent=2, sort_keys=True) + "\n")
    log.info("synthetic dataset written to %s in %.1f s", out, time.perf_counter() - t0)
    return dataset_paths(out)


def generate(out_dir: str | os.PathLike, **spec: Any) -> dict[str, str]:
    """Write the synthetic dataset into ``out_dir`` (created if needed), overwriting any previous one.

    ``spec`` holds :class:`DatasetSpec`'s fields (num_train_images=600, num_val_images=100, seed=0,
    image_size=(320, 240), feet=False); an unknown one is a TypeError. ``out_dir/synthetic.json`` is
    removed first and written last, atomically, so an interrupted run leaves no complete-looking dataset.

    Returns:
        :func:`dataset_paths` of ``out_dir``.
    """
    return _generate(Path(out_dir), DatasetSpec(**spec))


def _complete(out: Path, spec: DatasetSpec) -> bool:
    """True if out holds a finished dataset made with exactly this spec (and generator version)."""
    try:
        stored = read_json(out / MANIFEST, "synthetic dataset manifest")
    except SimplePoseError:   # missing, unreadable or damaged: not complete, so regenerate
        return False
    if stored != spec.manifest():
        return False
    paths = dataset_paths(out)
    for split, n in (("train", spec.num_train_images), ("val", spec.num_val_images)):
        if not os.path.isfile(paths[f"{split}_ann"]) or not os.path.isdir(paths[f"{split}_images"]):
            return False
        if sum(1 for name in os.listdir(paths[f"{split}_images"]) if name.endswith(".jpg")) != n:
            return False
    return True


def ensure_dataset(out_dir: str | os.PathLike, **spec: Any) -> dict[str, str]:
    """Return the dataset paths, generating it only if ``out_dir`` lacks a complete copy.

    ``spec`` as for :func:`generate`. A dataset counts as complete when ``out_dir/synthetic.json`` records
    the same spec (and generator version) and the annotation files and image counts are present.
    """
    out, wanted = Path(out_dir), DatasetSpec(**spec)
    if _complete(out, wanted):
        log.info("synthetic dataset in %s is complete; not regenerating", out)
        return dataset_paths(out)
    log.info("generating synthetic dataset in %s", out)
    return _generate(out, wanted)
