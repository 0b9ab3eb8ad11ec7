"""Tests for simplepose.synthetic (the built-in stick-figure COCO keypoint dataset)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pycocotools.coco import COCO

from simplepose.errors import SimplePoseError
from simplepose.meta import COCO_KEYPOINT_NAMES, COCO_SKELETON, FOOT_KEYPOINT_NAMES
from simplepose.synthetic import ensure_dataset, generate, writer
from simplepose.synthetic.__main__ import build_parser, main
from simplepose.synthetic.scene import render_image


W, H = 320, 240


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    paths = generate(out, num_train_images=20, num_val_images=5, seed=0)
    return out, paths


@pytest.fixture(scope="module")
def larger(tmp_path_factory):
    """A bigger train split for statistics (crowds, tiny figures, visibility)."""
    out = tmp_path_factory.mktemp("larger")
    paths = generate(out, num_train_images=150, num_val_images=0, seed=3)
    with open(paths["train_ann"], encoding="utf-8") as f:
        doc = json.load(f)
    return out, paths, doc


def _kp(ann) -> np.ndarray:
    return np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)


def test_constants_match_coco():
    assert COCO_KEYPOINT_NAMES == (
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
        "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
        "left_knee", "right_knee", "left_ankle", "right_ankle")
    assert COCO_SKELETON == (
        (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
        (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7))


def test_layout_and_pycocotools_load(small):
    out, paths = small
    assert set(paths) == {"train_ann", "train_images", "val_ann", "val_images"}
    assert Path(paths["train_ann"]) == out / "annotations" / "person_keypoints_train.json"
    assert Path(paths["val_ann"]) == out / "annotations" / "person_keypoints_val.json"
    assert Path(paths["train_images"]) == out / "train"
    assert Path(paths["val_images"]) == out / "val"
    assert (out / "synthetic.json").is_file()

    image_ids, ann_ids = [], []
    for split, n in (("train", 20), ("val", 5)):
        coco = COCO(paths[f"{split}_ann"])
        ds = coco.dataset
        assert "info" in ds and "licenses" in ds
        assert len(ds["images"]) == n
        cats = ds["categories"]
        assert len(cats) == 1 and cats[0]["id"] == 1 and cats[0]["name"] == "person"
        assert cats[0]["keypoints"] == list(COCO_KEYPOINT_NAMES)
        assert cats[0]["skeleton"] == [list(s) for s in COCO_SKELETON]
        assert coco.getCatIds(catNms=["person"]) == [1]
        # Only the rendered images exist in the split directory.
        files = sorted(os.listdir(paths[f"{split}_images"]))
        assert files == sorted(im["file_name"] for im in ds["images"])
        for im in ds["images"]:
            assert im["file_name"] == f"{im['id']:012d}.jpg"
            assert (im["width"], im["height"]) == (W, H)
            img = cv2.imread(os.path.join(paths[f"{split}_images"], im["file_name"]), cv2.IMREAD_COLOR)
            assert img is not None and img.shape == (H, W, 3)
            n_people = len(coco.getAnnIds(imgIds=[im["id"]], iscrowd=False))
            assert 1 <= n_people <= 5  # 1-4 labelled people + optional tiny unlabelled one
        image_ids += [im["id"] for im in ds["images"]]
        ann_ids += [a["id"] for a in ds["annotations"]]
    assert len(set(image_ids)) == len(image_ids) == 25
    assert len(set(ann_ids)) == len(ann_ids)


@pytest.mark.parametrize("split", ["train", "val"])
def test_annotation_geometry(small, split):
    _, paths = small
    with open(paths[f"{split}_ann"], encoding="utf-8") as f:
        ds = json.load(f)
    images = {im["id"]: im for im in ds["images"]}
    labelled = 0
    for ann in ds["annotations"]:
        im = images[ann["image_id"]]
        assert ann["category_id"] == 1 and ann["iscrowd"] in (0, 1)
        assert len(ann["keypoints"]) == 51
        x, y, bw, bh = ann["bbox"]
        assert all(isinstance(v, float) for v in ann["bbox"])
        assert bw > 0 and bh > 0 and ann["area"] > 0
        assert x >= 0 and y >= 0 and x + bw <= im["width"] + 1e-6 and y + bh <= im["height"] + 1e-6
        assert ann["segmentation"]
        kp = _kp(ann)
        v = kp[:, 2]
        assert set(np.unique(v)) <= {0.0, 1.0, 2.0}
        assert ann["num_keypoints"] == int((v > 0).sum())
        assert np.all(kp[v == 0, :2] == 0)
        lab = kp[v > 0]
        # Inside the image, inside the (clipped) person box, on the renderer's 1/16 px grid.
        assert np.all((lab[:, 0] >= 0) & (lab[:, 0] <= im["width"] - 1))
        assert np.all((lab[:, 1] >= 0) & (lab[:, 1] <= im["height"] - 1))
        assert np.all((lab[:, 0] >= x - 1e-6) & (lab[:, 0] <= x + bw + 1e-6))
        assert np.all((lab[:, 1] >= y - 1e-6) & (lab[:, 1] <= y + bh + 1e-6))
        assert np.all(lab[:, :2] * 16 == np.round(lab[:, :2] * 16))
        labelled += ann["num_keypoints"] > 0
        if ann["num_keypoints"] > 0:
            assert ann["iscrowd"] == 0
            # person heights: 35%..90% of the image height, so boxes are never tiny
            assert bh >= 0.15 * im["height"] or y + bh >= im["height"] - 1 or y <= 1
    assert labelled >= len(ds["images"])


def test_visibility_crowd_and_unlabelled_people(larger):
    _, _, ds = larger
    anns = ds["annotations"]
    people = [a for a in anns if a["num_keypoints"] > 0]
    v = np.stack([_kp(a)[:, 2] for a in people])
    frac_v1 = float((v == 1).mean())
    frac_v0 = float((v == 0).mean())
    assert 0.02 <= frac_v1 <= 0.15, frac_v1
    assert 0.0 < frac_v0 <= 0.2, frac_v0
    assert (v == 2).mean() > 0.7

    crowd = [a for a in anns if a["iscrowd"] == 1]
    zero = [a for a in anns if a["iscrowd"] == 0 and a["num_keypoints"] == 0]
    assert 2 <= len(crowd) <= 30 and 2 <= len(zero) <= 30
    for a in crowd + zero:
        assert not any(a["keypoints"])
    coco = COCO(larger[1]["train_ann"])
    for a in crowd:
        m = coco.annToMask(coco.anns[a["id"]])
        assert m.shape == (H, W)
        assert abs(int(m.sum()) - a["area"]) <= 1
        ys, xs = np.nonzero(m)
        x, y, bw, bh = a["bbox"]
        assert xs.min() >= x - 1e-6 and xs.max() < x + bw + 1e-6
        assert ys.min() >= y - 1e-6 and ys.max() < y + bh + 1e-6

    # Varied sizes: some big, some small people (boxes of people fully inside the image).
    heights = [a["bbox"][3] / H for a in people
               if a["bbox"][1] > 0.5 and a["bbox"][1] + a["bbox"][3] < H - 0.5]
    assert min(heights) < 0.45 and max(heights) > 0.7
    per_image = {}
    for a in people:
        per_image[a["image_id"]] = per_image.get(a["image_id"], 0) + 1
    assert set(per_image.values()) == {1, 2, 3, 4}
    assert len(per_image) == len(ds["images"])


def test_left_right_palette_at_visible_wrists_and_ankles(larger):
    _, paths, ds = larger
    images = {im["id"]: im for im in ds["images"]}
    checks = {"left": [], "right": []}
    for a in ds["annotations"]:
        if a["num_keypoints"] == 0:
            continue
        kp = _kp(a)
        img = None
        for name_l, name_r in (("left_wrist", "right_wrist"), ("left_ankle", "right_ankle")):
            for side, name in (("left", name_l), ("right", name_r)):
                x, y, v = kp[COCO_KEYPOINT_NAMES.index(name)]
                if v != 2:
                    continue
                if img is None:
                    img = cv2.imread(os.path.join(paths["train_images"], images[a["image_id"]]["file_name"]))
                b, g, r = (float(c) for c in img[int(round(y)), int(round(x))])
                checks[side].append(r - b)
    assert len(checks["left"]) > 100 and len(checks["right"]) > 100
    left, right = np.array(checks["left"]), np.array(checks["right"])
    # Left joints are warm (red > blue), right joints cool (blue > red).
    assert (left > 50).mean() > 0.9, (left > 50).mean()
    assert (right < -50).mean() > 0.9, (right < -50).mean()


def test_deterministic_by_seed(tmp_path):
    a = generate(tmp_path / "a", num_train_images=4, num_val_images=2, seed=7)
    b = generate(tmp_path / "b", num_train_images=4, num_val_images=2, seed=7)
    c = generate(tmp_path / "c", num_train_images=4, num_val_images=2, seed=8)
    for key in ("train_ann", "val_ann"):
        assert Path(a[key]).read_bytes() == Path(b[key]).read_bytes()
        assert Path(a[key]).read_bytes() != Path(c[key]).read_bytes()
    for key in ("train_images", "val_images"):
        names = sorted(os.listdir(a[key]))
        assert names == sorted(os.listdir(b[key])) and names
        for n in names:
            assert (Path(a[key]) / n).read_bytes() == (Path(b[key]) / n).read_bytes()
        assert any((Path(a[key]) / n).read_bytes() != (Path(c[key]) / n).read_bytes() for n in names)
    # Images are independent of each other: image 1 does not depend on the split size.
    d = generate(tmp_path / "d", num_train_images=2, num_val_images=0, seed=7)
    first = "000000000001.jpg"
    assert (Path(d["train_images"]) / first).read_bytes() == (Path(a["train_images"]) / first).read_bytes()


def _stamp_old(paths):
    """Set old mtimes on the annotation files and one image; return the stamp."""
    stamp = 1_000_000_000
    targets = [Path(paths["train_ann"]), Path(paths["val_ann"]), Path(paths["train_images"]) / "000000000001.jpg"]
    for t in targets:
        os.utime(t, (stamp, stamp))
    return stamp, targets


def test_ensure_dataset_reuses_and_regenerates(tmp_path):
    out = tmp_path / "ds"
    kw = dict(num_train_images=3, num_val_images=2, seed=1, image_size=(160, 120))
    paths = ensure_dataset(out, **kw)
    manifest = json.loads((out / "synthetic.json").read_text())
    assert manifest["num_train_images"] == 3 and manifest["image_size"] == [160, 120]

    # Complete -> nothing rewritten.
    stamp, targets = _stamp_old(paths)
    assert ensure_dataset(out, **kw) == paths
    assert all(os.stat(t).st_mtime == stamp for t in targets)

    # Missing marker (half-written dataset) -> regenerated.
    (out / "synthetic.json").unlink()
    assert ensure_dataset(out, **kw) == paths
    assert (out / "synthetic.json").is_file()
    assert all(os.stat(t).st_mtime != stamp for t in targets)

    # Different arguments -> regenerated with the new ones.
    paths2 = ensure_dataset(out, num_train_images=4, num_val_images=1, seed=1, image_size=(160, 120))
    assert len(os.listdir(paths2["train_images"])) == 4
    assert len(os.listdir(paths2["val_images"])) == 1
    with open(paths2["val_ann"], encoding="utf-8") as f:
        assert len(json.load(f)["images"]) == 1

    with pytest.raises(TypeError):
        ensure_dataset(out, bogus=1)


def test_interrupted_generation_is_not_complete(tmp_path, monkeypatch):
    out = tmp_path / "ds"
    kw = dict(num_train_images=2, num_val_images=1, seed=0, image_size=(128, 96))
    ensure_dataset(out, **kw)
    real = writer._write_split

    def failing(out_dir, split, *args, **kwargs):
        if split == "val":
            raise KeyboardInterrupt("simulated crash")
        return real(out_dir, split, *args, **kwargs)

    monkeypatch.setattr(writer, "_write_split", failing)
    with pytest.raises(KeyboardInterrupt):
        generate(out, **kw)
    assert not (out / "synthetic.json").exists()
    assert not [p for p in os.listdir(out) if p.startswith(".")]  # temp dirs cleaned up
    monkeypatch.setattr(writer, "_write_split", real)
    stamp, targets = _stamp_old({"train_ann": out / "annotations" / "person_keypoints_train.json",
                                 "val_ann": out / "annotations" / "person_keypoints_val.json",
                                 "train_images": out / "train"})
    ensure_dataset(out, **kw)
    assert (out / "synthetic.json").is_file()
    assert all(os.stat(t).st_mtime != stamp for t in targets)


@pytest.mark.usefixtures("drop_log_handlers")
def test_main_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["--out", str(out), "--train-images", "2", "--val-images", "1", "--seed", "5",
               "--width", "128", "--height", "96"])
    assert rc == 0
    printed = capsys.readouterr().out
    for key in ("train_ann", "train_images", "val_ann", "val_images"):
        assert key in printed
    img = cv2.imread(str(out / "val" / "000000000003.jpg"))
    assert img is not None and img.shape == (96, 128, 3)



def test_feet_variant_draws_and_labels_23_keypoints(tmp_path):
    """--feet: COCO's 17 then WholeBody's 6 foot points, drawn in the side's joint colour, below the ankles;
    the 17-keypoint dataset of the same seed is untouched by the option's existence."""
    from simplepose.meta import KeypointMeta
    paths = generate(tmp_path / "feet", num_train_images=40, num_val_images=0, seed=3, feet=True)
    plain = generate(tmp_path / "plain", num_train_images=2, num_val_images=0, seed=3)
    assert json.loads(Path(plain["train_ann"]).read_text())["categories"][0]["keypoints"] == list(COCO_KEYPOINT_NAMES)
    doc = json.loads(Path(paths["train_ann"]).read_text())
    cat = doc["categories"][0]
    assert cat["keypoints"] == list(COCO_KEYPOINT_NAMES + FOOT_KEYPOINT_NAMES)
    meta = KeypointMeta.from_coco_category(cat)
    assert meta.num_joints == 23 and meta.flip_pairs[-3:] == ((17, 20), (18, 21), (19, 22))
    assert {17, 18, 19, 20, 21, 22} <= set(meta.lower_body)
    images = {im["id"]: im for im in doc["images"]}
    colour = {"left": [], "right": []}
    below = []
    for a in doc["annotations"]:
        kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
        assert kp.shape == (23, 3)
        if a["num_keypoints"] == 0:
            continue
        assert a["num_keypoints"] == int((kp[:, 2] > 0).sum())
        img = cv2.imread(os.path.join(paths["train_images"], images[a["image_id"]]["file_name"]))
        for j in range(6):
            x, y, v = kp[17 + j]
            ankle = kp[15 if j < 3 else 16]
            knee = kp[13 if j < 3 else 14]
            if v == 2 and ankle[2] and knee[2]:
                b, g, r = (float(c) for c in img[int(round(y)), int(round(x))])
                colour["left" if j < 3 else "right"].append(r - b)
                # past the ankle, along the shin
                below.append(np.dot([x, y] - ankle[:2], ankle[:2] - knee[:2]) > 0)
    left, right = np.array(colour["left"]), np.array(colour["right"])
    assert len(left) > 100 and len(right) > 100
    assert (left > 50).mean() > 0.85 and (right < -50).mean() > 0.85, ((left > 50).mean(), (right < -50).mean())
    assert np.mean(below) > 0.99
    # ensure_dataset tells the variants apart.
    assert json.loads((tmp_path / "feet" / "synthetic.json").read_text())["feet"] is True
    assert "feet" not in json.loads((tmp_path / "plain" / "synthetic.json").read_text())


# sha256 of a small set at the default image size written by the generator before it became a package
# (simplepose/data/synthetic.py at commit 6407537); seed 11 gives both a crowd region and a tiny unlabelled
# figure. Any change of the poses, drawing, visibility, JSON layout or manifest fails here; a deliberate
# change bumps GENERATOR_VERSION and these digests together.
PINNED = {
    False: {
        "annotations/person_keypoints_train.json": "9643a661096312213a10d39939da2dddaca07f09683f50eff60a2f026661f09b",
        "annotations/person_keypoints_val.json": "548696badcf3765d823f93f0d5366eff82caa16e74eb1df72dbf36f370c05802",
        "synthetic.json": "775bc36d0eaa8d91cb59fab9ae09cf0df193dad4f2ce22b37ff582315cff1ab3",
        "pixels": "70e5993f7e95bf53efb9f48d044588c53b4dd8b571afd489396ef95d97fac8e3",
    },
    True: {
        "annotations/person_keypoints_train.json": "af96495357444e69cba5cb45eac652451b2d50f905db9708945299db0aac5b20",
        "annotations/person_keypoints_val.json": "13e178b72a03ceb1fb508b0d2e7e0f01be054aacbf93f3323c9855d99f16c331",
        "synthetic.json": "be8111a7472297f444e3a38e66cf11cf2db8f0b119a987718a4d1dc2270cf22a",
        "pixels": "6bff2fb8ff937c0c61a93d2595b5886ba63ac3d4b6e296c41f81415d0a61f567",
    },
}


@pytest.mark.parametrize("feet", [False, True])
def test_output_is_pinned_by_digest(tmp_path, feet):
    """The files and the rendered pixels equal the stored digests; each JPEG is those pixels at quality 90.

    The JPEG bytes are compared with this OpenCV's encoder rather than a digest, so that another libjpeg
    build does not fail the test while a change of the pixels, the quality or the file naming does.
    """
    generate(tmp_path, num_train_images=4, num_val_images=2, seed=11, feet=feet)
    for name in ("annotations/person_keypoints_train.json", "annotations/person_keypoints_val.json",
                 "synthetic.json"):
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == PINNED[feet][name], name
    pixels = hashlib.sha256()
    for split_code, split, n, first_id in ((0, "train", 4, 1), (1, "val", 2, 5)):
        assert sorted(os.listdir(tmp_path / split)) == [f"{first_id + i:012d}.jpg" for i in range(n)]
        for i in range(n):
            img, _ = render_image(np.random.default_rng([11, split_code, i]), W, H, feet)
            pixels.update(img.tobytes())
            jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
            assert (tmp_path / split / f"{first_id + i:012d}.jpg").read_bytes() == jpeg
    assert pixels.hexdigest() == PINNED[feet]["pixels"]


def test_damaged_manifest_means_regenerate(tmp_path):
    kw = dict(num_train_images=1, num_val_images=1, seed=2, image_size=(64, 48))
    ensure_dataset(tmp_path, **kw)
    (tmp_path / "synthetic.json").write_text('{"seed": ')
    ensure_dataset(tmp_path, **kw)
    assert json.loads((tmp_path / "synthetic.json").read_text())["image_size"] == [64, 48]


def test_bad_options_are_one_line_errors(tmp_path):
    with pytest.raises(SimplePoseError, match=r"num_val_images is -1; give a count >= 0"):
        generate(tmp_path / "a", num_val_images=-1)
    with pytest.raises(SimplePoseError, match=r"image_size \(20, 240\) is too small"):
        ensure_dataset(tmp_path / "b", image_size=(20, 240))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()   # refused before writing
    taken = tmp_path / "file"
    taken.write_text("not a directory")
    res = subprocess.run([sys.executable, "-m", "simplepose.synthetic", "--out", str(taken), "--train-images", "1",
                          "--val-images", "0"], cwd=Path(__file__).resolve().parents[2], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1] == (f"error: {taken}: cannot create the dataset directory "
                                                   "(File exists); give a directory that can be written")
    assert taken.read_text() == "not a directory"


def test_every_flag_has_help_with_its_default():
    parser = build_parser()
    helps = {a.option_strings[0]: a.help for a in parser._actions if a.option_strings and a.dest != "help"}
    assert set(helps) == {"--out", "--train-images", "--val-images", "--seed", "--width", "--height", "--feet",
                          "--force", "--video", "--frames", "--fps", "--people"}
    assert all(helps.values()), helps
    text = " ".join(parser.format_help().split())     # undo the line wrapping
    text = text[text.index("options:"):]              # past the usage line
    for flag, default in (("--train-images", 600), ("--val-images", 100), ("--seed", 0),
                          ("--width", "320; for --video 640"), ("--height", "240; for --video 480"), ("--frames", 48),
                          ("--fps", 24.0), ("--people", 3)):
        after = text[text.index(f"{flag} "):]
        assert after[:after.index(")") + 1].endswith(f"(default: {default})"), (flag, after[:120])
