"""Data pipeline throughput: ours vs GluonCV vs the decode-only floor, single worker, one process.

On the same generated COCO-like images (640x480 JPEG, 1-4 people each) and the same people, measures
samples/s of

  (a) GluonCV: ``gluoncv.data.mscoco.keypoints.COCOKeyPoints`` + ``SimplePoseDefaultTrainTransform``
      (image decode, augmentation, warp, normalisation, heatmap targets);
  (b) ours: ``COCOKeyPoints`` + ``TrainTransform`` + ``HeatmapCodec`` through ``PoseSamples``, as in
      training: JPEGs decoded by libjpeg-turbo, only the part the warp reads (region decoding, when
      ``make`` has built ``libroijpeg.so``), at reduced resolution when the crop allows, and the
      crop handed out as uint8 (the float normalisation runs per batch on the device, in the training
      step, where ``bench/train_step.py`` counts it); (b') the same with full-resolution decoding
      (``--full-decode`` in training); (bn) (b) plus GluonCV's share of the work that ours moves to
      the device, the NumPy normalisation of each crop in the worker;
  (c) the floor: full JPEG decode with the fastest decoder at hand (libjpeg-turbo's SIMD code through
      simplejpeg, ``data.decode.decode_bgr``) + one ``cv2.warpAffine`` per sample, nothing else,
      and (c') the same floor with OpenCV's decoder (``cv2.imread``), which GluonCV's loader uses;
  (d) ours reading person crops packed by ``simplepose.data.pack`` for this input size (``--train-pack``;
      the pack is written once, before timing, and its writing time is printed),

and prints them with the ratios b/a, b/c, d/a and d/c. Before timing it checks, person by person, that ours and
GluonCV's heatmaps and weights are identical under the same augmentation. The pipelines take turns
on chunks of 10 people (so the shared machine's changing load hits them alike), over several rounds of
the same shuffled people; the median round counts. Each pipeline runs single-threaded, as in a loader
worker: OpenCV with one thread, and MXNet (GluonCV's NDArray work) with its synchronous engine and one
OpenMP thread. With MXNet's defaults (a threaded engine, OpenMP threads on both cores) whatever ran right
after GluonCV's chunks was slowed markedly: ours at 256x192 gave 351 samples/s interleaved with GluonCV,
420 with these settings, 502 alone. Set ``MXNET_ENGINE_TYPE`` or ``OMP_NUM_THREADS`` to override.

    .venv/bin/python bench/data_pipeline.py                       # 256x192 input
    .venv/bin/python bench/data_pipeline.py --input-size 128,96   # the CPU training size
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")  # before MXNet loads: see the docstring
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gluoncv.data.mscoco.keypoints import COCOKeyPoints as GluonCOCOKeyPoints  # noqa: E402
import gluoncv.data.transforms.presets.simple_pose as gluoncv_preset  # noqa: E402

from simplepose.codec import HeatmapCodec  # noqa: E402
from simplepose.data.coco import COCOKeyPoints  # noqa: E402
from simplepose.data.decode import decode_bgr  # noqa: E402
from simplepose.data.pack import PackedCrops, pack  # noqa: E402
from simplepose.data.samples import PoseSamples  # noqa: E402
from simplepose.synthetic import ensure_dataset  # noqa: E402
from simplepose.data.transforms import TrainTransform, normalize  # noqa: E402

SCALE_FACTOR, ROTATION_FACTOR = 0.30, 40.0


def gluoncv_dataset(paths: dict[str, str]) -> GluonCOCOKeyPoints:
    """GluonCV's loader over our train split (it finds images through ``coco_url``: ROOT/DIR/FILE)."""
    ann = Path(paths["train_ann"])
    doc = json.loads(ann.read_text())
    for img in doc["images"]:
        img["coco_url"] = f"http://images/{Path(paths['train_images']).name}/{img['file_name']}"
    (ann.parent / "gluoncv_train.json").write_text(json.dumps(doc))
    return GluonCOCOKeyPoints(str(ann.parent.parent), splits=("gluoncv_train",))


@contextlib.contextmanager
def forced_draws(normals: list[float], uniforms: list[float]):
    """Make GluonCV's transform draw the given values (np.random.randn, random.random)."""
    randn, rand = np.random.randn, gluoncv_preset.random.random
    np.random.randn = lambda: normals.pop(0)
    gluoncv_preset.random.random = lambda: uniforms.pop(0)
    try:
        yield
    finally:
        np.random.randn, gluoncv_preset.random.random = randn, rand


def check_targets(ours: PoseSamples, tf: TrainTransform, theirs: GluonCOCOKeyPoints, ref_tf, order, pairs) -> int:
    """Ours vs GluonCV's (heatmaps, weights) for each person under our draw of its augmentation."""
    for i in order:
        j = pairs[i]
        rec = ours.dataset.records[i]
        aug = tf.sample(rec, np.random.default_rng([ours.seed, 0, i]))
        normals = [(aug.scale_mult - 1) / SCALE_FACTOR, aug.rotation / ROTATION_FACTOR]
        uniforms = [0.0 if aug.rotation else 1.0, 1.0 if aug.flip else 0.0]
        img, label, _ = theirs[j]
        with forced_draws(normals, uniforms):
            _, ref_hm, ref_w, _ = ref_tf(img, label, "")
        _, heatmaps, weights = ours[(i, 0)]
        if not (np.array_equal(weights.ravel(), ref_w.ravel()) and np.allclose(heatmaps, ref_hm, atol=1e-6)):
            raise SystemExit(f"targets differ from GluonCV's for person {i} ({rec.image_path}, {aug})")
    return len(order)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="data/bench_coco640", help="where the 640x480 images are generated (cached)")
    p.add_argument("--images", type=int, default=200, help="images to generate (about 2.2 people each)")
    p.add_argument("--input-size", default="256,192", help="model input 'height,width'")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per pipeline (median counts)")
    p.add_argument("--samples", type=int, default=300, help="people per round")
    p.add_argument("--chunk", type=int, default=10, help="people per turn of a pipeline")
    args = p.parse_args()
    h, w = (int(v) for v in args.input_size.split(","))
    cv2.setNumThreads(1)
    paths = ensure_dataset(args.data_dir, num_train_images=args.images, num_val_images=1, seed=0,
                           image_size=(640, 480))

    ds = COCOKeyPoints(paths["train_ann"], paths["train_images"])
    tf = TrainTransform(ds.meta, (h, w), scale_factor=SCALE_FACTOR, rotation_factor=ROTATION_FACTOR)
    codec = HeatmapCodec((h, w), stride=4, sigma=2)
    ours = PoseSamples(ds, tf, codec, seed=0, reduced_decode=True)
    ours_full = PoseSamples(ds, tf, codec, seed=0, reduced_decode=False)
    tic = time.perf_counter()
    pack_base = Path(args.data_dir) / f"pack_{h}x{w}"
    pack(ds, pack_base, (h, w), SCALE_FACTOR)
    pack_seconds = time.perf_counter() - tic
    packed = PoseSamples(ds, tf, codec, seed=0, reduced_decode=True, packed=PackedCrops(pack_base, ds))
    theirs = gluoncv_dataset(paths)
    ref_tf = gluoncv_preset.SimplePoseDefaultTrainTransform(
        ds.meta.num_joints, [list(pair) for pair in ds.meta.flip_pairs], image_size=(h, w),
        heatmap_size=codec.heatmap_size, sigma=2, scale_factor=SCALE_FACTOR, rotation_factor=ROTATION_FACTOR)
    # The same person in both datasets: same image file and box.
    where = {(Path(path).name, tuple(np.round(lab["bbox"], 3))): j
             for j, (path, lab) in enumerate(zip(theirs._items, theirs._labels))}
    pairs = {i: where[(Path(r.image_path).name, tuple(np.round(r.bbox.astype(np.float64), 3)))]
             for i, r in enumerate(ds.records) if (Path(r.image_path).name,
                                                   tuple(np.round(r.bbox.astype(np.float64), 3))) in where}
    order = np.random.default_rng(0).permutation(sorted(pairs))[:args.samples].tolist()
    print(f"{len(ds)} people (GluonCV: {len(theirs)}, common: {len(pairs)}) in {args.images} 640x480 JPEGs; "
          f"input {h}x{w}, {len(order)} people per round, {args.rounds} rounds")
    n = check_targets(ours, tf, theirs, ref_tf, order, pairs)
    for i in order:
        if not all(np.array_equal(x, y) for x, y in zip(packed[(i, 0)][1:], ours[(i, 0)][1:])):
            raise SystemExit(f"targets with the pack differ for person {i}")
    print(f"targets: identical to GluonCV's for all {n} people under the same augmentation (with and without "
          "the pack)")
    served = sum(packed.packed.crop(i, tf.geometry(ds.records[i], tf.sample(
        ds.records[i], np.random.default_rng([0, 0, i])))[0].matrix, (h, w)) is not None for i in order)
    print(f"pack: {len(ds)} crops written in {pack_seconds:.1f} s, "
          f"{pack_base.with_suffix('.bin').stat().st_size / 1e6:.1f} MB (the images: "
          f"{sum(p.stat().st_size for p in Path(paths['train_images']).glob('*.jpg')) / 1e6:.1f} MB); "
          f"it serves {served} of the {len(order)} samples, the others decode their image")

    def gluoncv_run(people):
        for i in people:
            img, label, img_id = theirs[pairs[i]]
            out = ref_tf(img, label, img_id)
            out[0].wait_to_read()

    def ours_run(samples):
        def run(people):
            for i in people:
                samples[(i, 0)]
        return run

    def floor_run(decoder):
        def run(people):
            for i in people:
                rec = ds.records[i]
                crop, _ = tf.geometry(rec, tf.sample(rec, np.random.default_rng([0, 0, i])))
                image = decoder(rec.image_path)
                cv2.warpAffine(image, crop.matrix, (w, h), flags=cv2.INTER_LINEAR)
        return run

    def normalised_run(people):
        for i in people:
            crop = ours[(i, 0)][0]
            normalize(crop, tf.mean, tf.std, bgr=True)

    runs = {"a": gluoncv_run, "b": ours_run(ours), "b'": ours_run(ours_full), "bn": normalised_run,
            "c": floor_run(lambda path: decode_bgr(Path(path).read_bytes())),
            "c'": floor_run(lambda path: cv2.imread(path, cv2.IMREAD_COLOR)), "d": ours_run(packed)}
    for f in runs.values():  # warm-up: file cache, lazy imports
        f(order[:20])
    random.seed(0)
    np.random.seed(0)
    # The pipelines take turns on chunks of people, so a change in the machine's load
    # (it is shared) hits all of them alike; each round sums the chunks of one pass.
    chunks = [order[k:k + args.chunk] for k in range(0, len(order), args.chunk)]
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.rounds):
        spent = dict.fromkeys(runs, 0.0)
        for chunk in chunks:
            for key, f in runs.items():
                tic = time.perf_counter()
                f(chunk)
                spent[key] += time.perf_counter() - tic
        for key in runs:
            times[key].append(spent[key])
    rate = {k: len(order) / statistics.median(v) for k, v in times.items()}
    names = {"a": "GluonCV COCOKeyPoints + SimplePoseDefaultTrainTransform",
             "b": "ours (PoseSamples: region + reduced JPEG decode)",
             "b'": "ours, full-resolution decode (--full-decode)",
             "bn": "ours + normalisation in the worker (as GluonCV)",
             "c": "floor: full libjpeg-turbo decode + one warpAffine",
             "c'": "floor with OpenCV's decoder (cv2.imread)",
             "d": "ours with packed person crops"}
    for key in runs:
        spread = ", ".join(f"{len(order) / t:.0f}" for t in times[key])
        print(f"({key:2s}) {names[key]:58s} {rate[key]:7.1f} samples/s  (rounds: {spread})")
    full = rate["b'"]
    print(f"b/a  = {rate['b'] / rate['a']:.2f}  (ours / GluonCV; goal >= 3.0)")
    print(f"b'/a = {full / rate['a']:.2f}  (ours with full decode / GluonCV)")
    print(f"bn/a = {rate['bn'] / rate['a']:.2f}  (ours normalising in the worker / GluonCV)")
    print(f"b/c  = {rate['b'] / rate['c']:.2f}  (ours / decode-only floor; goal >= 0.67, i.e. within 1.5x)")
    print(f"b'/c = {full / rate['c']:.2f}  (ours with full decode / floor)")
    opencv_floor = rate["c'"]
    print(f"c/c' = {rate['c'] / opencv_floor:.2f}  (libjpeg-turbo / OpenCV decoding, both with the warp)")
    print(f"d/a  = {rate['d'] / rate['a']:.2f}  (ours with the pack / GluonCV)")
    print(f"d/c  = {rate['d'] / rate['c']:.2f}  (ours with the pack / floor)")


if __name__ == "__main__":
    mx.random.seed(0)
    main()
