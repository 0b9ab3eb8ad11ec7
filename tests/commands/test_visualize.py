"""Pictures: error analysis behind the AP, training curves, augmentation and heatmap grids."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from simplepose import plot
from simplepose.cli import run_main
from simplepose.data.coco import COCOKeyPoints
from simplepose.data.transforms import TrainTransform
from simplepose.data.boxes import gt_boxes
from simplepose.runtime.pose import BoxCrops
from simplepose.scoring.coco import evaluate_keypoints, load_coco_gt
from simplepose.scoring.oks import oks
from simplepose.visualize import augmentation_figure, heatmap_figure, training_curves_figure


def png_size(path):
    image = cv2.imread(str(path))
    assert image is not None, path
    return image.shape[1], image.shape[0]


def test_error_analysis_finds_the_displaced_person(synthetic, tmp_path):
    """Ground truth as predictions, one person moved down by 30 % of its box: that person is the worst,
    with the OKS COCO's formula gives, everyone else is perfect, and the PR curves average to the AP."""
    ds = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    boxes = gt_boxes(ds)
    crops = BoxCrops(boxes.image_paths, boxes.boxes, (128, 96))
    gt = load_coco_gt(ds)
    poses = np.stack([r.joints for r in ds.records]).astype(np.float32)
    poses[..., 2] = 1.0                                     # scores
    moved = 3
    rec = ds.records[moved]
    shift = 0.3 * (rec.bbox[3] - rec.bbox[1])
    poses[moved, :, 1] += shift
    report, _ = evaluate_keypoints(gt, poses, boxes, crops.areas, ds.meta, ds.category_id, analysis=True)
    a = report.analysis
    assert a.precision.shape == (10, 101) and np.allclose(a.oks_thresholds, np.linspace(0.5, 0.95, 10))
    # COCO's AP is the mean of these curves over thresholds and recall points.
    assert np.mean(a.precision[a.precision > -1]) == pytest.approx(report.stats["AP"])
    assert 0.5 < report.stats["AP"] < 1
    worst = a.instances[0]
    assert worst.ann_id == rec.ann_id and worst.image_id == rec.image_id
    labelled = rec.joints[:, 2] > 0
    ann = gt.anns[rec.ann_id]
    expected = oks(np.c_[rec.joints[labelled, :2], np.ones(labelled.sum())],
                   poses[moved][labelled][None], ann["area"], np.array([ann["area"]]),
                   np.asarray(ds.meta.sigmas)[labelled])[0]
    # (results are rounded to 0.001 pixel, hence the tolerance)
    assert worst.oks == pytest.approx(expected, rel=1e-4) and worst.oks < 0.5
    assert all(i.oks > 0.999 for i in a.instances[1:])
    assert len(a.instances) == sum(1 for r in ds.records)   # every labelled person, once

    written = plot.write_error_analysis(tmp_path, report, ds.meta, ds.image_files, worst=4)
    assert [p.name for p in written] == ["pr_curves.png", "per_keypoint_ap.png", "worst_instances.png",
                                         "worst_instances.json"]
    for path in written[:3]:
        w, h = png_size(path)
        assert w > 300 and h > 200
    listing = json.loads(written[3].read_text())
    assert len(listing) == 4 and listing[0]["ann_id"] == rec.ann_id and listing[0]["oks"] < 0.5
    assert not list(tmp_path.glob("*.tmp"))


def test_run_pictures_from_the_command_line(trained, tmp_path):
    run_dir = Path(trained).parent
    assert (run_dir / "plots" / plot.CURVES).is_file()          # training wrote its curves
    out = tmp_path / "plots"
    assert plot.main([str(run_dir), "--out", str(out), "--samples", "5"]) == 0
    for name in (plot.CURVES, plot.AUGMENTATIONS, plot.HEATMAPS):
        w, h = png_size(out / name)
        assert w > 300 and h > 150, name
    assert run_main(lambda: plot.main([str(tmp_path / "nowhere")])) == 2
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.jsonl").write_text('{"epoch": 0}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad/metrics.jsonl line 2: metrics file is not valid JSON"):
        plot.main([str(tmp_path / "bad"), "--no-samples"])


def test_grids_and_curves_have_their_panels(synthetic):
    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    image, record = ds[plot.pick_person(ds)]
    transform = TrainTransform(ds.meta, (64, 48), flip_prob=1.0)
    fig = augmentation_figure(image, record, transform, np.random.default_rng(0), n=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "no augmentation" and len(titles) == 4 and all("flip" in t for t in titles[1:])
    heatmaps = np.random.default_rng(0).random((ds.meta.num_joints, 16, 12)).astype(np.float32)
    fig = heatmap_figure(np.zeros((64, 48, 3), np.uint8), heatmaps, ds.meta)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["input", *ds.meta.names]
    rows = [{"epoch": 0, "train_loss": None, "lr": None, "train_acc": None, "val_loss": 0.01, "val_acc": 0.0,
             "val_ap": 0.0, "val_pck_0.2": 0.1}, {"epoch": 1, "train_loss": 0.005, "lr": 1e-3, "train_acc": 0.2,
                                                 "val_loss": 0.004, "val_acc": 0.3, "val_ap": None, "val_pck_0.2": 0.5}]
    fig = training_curves_figure(rows)
    lines = {ax.get_title(): [len(l.get_xdata()) for l in ax.get_lines()] for ax in fig.axes}
    assert lines == {"loss (weighted L2)": [1, 2], "learning rate": [1], "HeatmapAccuracy": [1, 2],
                     "val AP, PCK@0.2 (GT boxes)": [1, 2]}


def test_curves_have_readable_ticks_and_grids_no_empty_row(synthetic):
    """A loss within one decade still gets several labelled ticks, epochs tick at whole numbers, and
    a grid of 9 pictures fills its rows (3 x 3, not 4 + 4 + 1)."""
    rows = [{"epoch": e, "train_loss": 0.004 / (1 + e), "lr": 1e-3, "train_acc": 0.1 * e, "val_loss": 0.005 / (1 + e),
             "val_acc": 0.1 * e, "val_ap": 0.1 * e} for e in range(11)]
    fig = training_curves_figure(rows)
    fig.canvas.draw()
    loss = next(ax for ax in fig.axes if ax.get_title().startswith("loss"))
    y0, y1 = loss.get_ylim()
    labels = [t.get_text() for t in loss.get_yticklabels() if t.get_text() and y0 <= t.get_position()[1] <= y1]
    assert len(labels) >= 3, labels
    for ax in fig.axes:
        x0, x1 = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if x0 <= t <= x1]
        assert ticks and all(float(t).is_integer() for t in ticks), (ax.get_title(), ticks)

    ds = COCOKeyPoints(synthetic["train_ann"], synthetic["train_images"])
    image, record = ds[plot.pick_person(ds)]
    fig = augmentation_figure(image, record, TrainTransform(ds.meta, (64, 48)), np.random.default_rng(0), n=8)
    grid = fig.axes[0].get_subplotspec().get_gridspec()
    assert (grid.nrows, grid.ncols) == (3, 3)
    assert all(ax.images for ax in fig.axes)               # every panel shows a crop


def test_worst_instances_tell_prediction_from_ground_truth(synthetic):
    from simplepose.scoring.analysis import InstanceOKS
    from simplepose.visualize import GROUND_TRUTH_COLOUR, worst_instances_figure
    ds = COCOKeyPoints(synthetic["val_ann"], synthetic["val_images"])
    rec = ds.records[0]
    x0, y0, x1, y1 = rec.bbox
    pred = rec.joints.copy()
    pred[:, 0] += 3
    inst = InstanceOKS(image_id=rec.image_id, ann_id=rec.ann_id, bbox=(x0, y0, x1 - x0, y1 - y0), oks=0.5,
                       gt=rec.joints, pred=pred)
    fig = worst_instances_figure([inst], [ds.read(0)], ds.meta)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert any(t.startswith("prediction") for t in labels) and "ground truth" in labels
    lines = fig.axes[0].get_lines()
    dashed = [l for l in lines if l.get_linestyle() == "--"]
    solid = [l for l in lines if l.get_linestyle() == "-"]
    assert dashed and solid and all(l.get_color() == GROUND_TRUTH_COLOUR for l in dashed)
    assert not any(l.get_color() == GROUND_TRUTH_COLOUR for l in solid)
