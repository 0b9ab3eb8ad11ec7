"""Export and predict outputs killed at every file operation: an export always loads (the old one or the new
one, bit for bit), the next run removes what the killed one left and nothing else (a user's file in the folder
stays byte for byte); a moved or copied export checks itself, a tampered one is refused in one line."""
import json
import os
import shutil
import time
from pathlib import Path

import cv2
import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.conftest import removed_at_end
from tests.kill_ops import run_killed_at
from simplepose.export import command as export
from simplepose.predict import command as predict
from simplepose.runtime.describe import FORMAT, load_deploy
from simplepose.runtime.load import load_model
from simplepose.runtime.onnx import onnx_forward
from simplepose.runtime.check import check_digests
from simplepose.errors import SimplePoseError
from simplepose.export.folder import clean_leftovers, live_files, read_previous
from simplepose.tempfiles import TMP_PREFIX
from simplepose.predict.outputs import VideoSink
from simplepose.synthetic.__main__ import main as synthetic_main

pytestmark = [pytest.mark.usefixtures("drop_log_handlers"),
              pytest.mark.filterwarnings("ignore:Cannot decide type:UserWarning")]
NOTES = b"my notes on this model\n\x00\xff binary too\n"   # the user's file planted in every output folder
MODEL = "simple_pose_resnet18_v1b"


@pytest.fixture(scope="module")
def models(trained, synthetic, tmp_path_factory, request):
    """An old export (the trained model, its final bias moved by 0.5) with the user's NOTES, the ONNX file of
    the new one (the trained checkpoint), one crop and both exports' ONNX Runtime heatmaps of it.

    The ONNX conversion (5 s a time) runs once: in the kill series every export copies its model's ONNX file
    (``export._export_onnx`` stubbed), so a kill costs the export's file operations, not the conversion.
    """
    root = removed_at_end(request, tmp_path_factory.mktemp("kill"))
    export.export_checkpoint(trained, root / "reference")            # the real conversion, once
    new_onnx = root / "reference" / load_deploy(root / "reference")["onnx"]
    old_onnx, plain = root / "old.onnx", root / "old.params"
    arrays = mx.nd.load(str(Path(trained).with_suffix(".params")))
    arrays["final_layer.bias"] += 0.5
    mx.nd.save(str(plain), arrays)
    graph = onnx.load(str(new_onnx))
    (bias,) = [i for i in graph.graph.initializer if list(i.dims) == [17]]
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + np.float32(0.5), bias.name))
    onnx.save(graph, str(old_onnx))
    source = {"onnx": old_onnx}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "_export_onnx", lambda symbol, params, size, out: shutil.copyfile(source["onnx"], out))
        old = root / "old"
        export.export_checkpoint(plain, old, plain=export.plain_export_description(str(plain), MODEL, (64, 64)))
        (old / "NOTES.txt").write_bytes(NOTES)
        source["onnx"] = new_onnx
        image = cv2.imread(str(sorted(Path(synthetic["val_images"]).glob("*.jpg"))[0]))
        crop = cv2.resize(image, (64, 64))[None]
        outputs = {name: heatmaps(folder, crop) for name, folder in (("old", old), ("new", root / "reference"))}
        assert not np.array_equal(outputs["old"], outputs["new"])
        yield {"old": old, "crop": crop, "outputs": outputs, "root": root}


def heatmaps(folder, crop):
    """The heatmaps of ``crop`` through the export in ``folder`` with ONNX Runtime (runtime.check included)."""
    loaded = load_model(folder, "onnx")
    assert loaded.backend == "onnx"
    return loaded.forward(crop)


def which(folder, models):
    """'old' or 'new': the export whose heatmaps the folder's export gives, bit for bit (its files checked
    whole against deploy.json's digests, then its ONNX file run; the other checks are test_predict's)."""
    doc = load_deploy(folder)
    if doc["format"] == FORMAT:   # a first-format export carries no digests
        check_digests(doc, folder / "deploy.json")
    got = onnx_forward(doc["onnx"], doc["mean"], doc["std"])(models["crop"])
    (name,) = [k for k, v in models["outputs"].items() if np.array_equal(got, v)]
    return name


def listing(folder):
    return sorted(p.name for p in Path(folder).iterdir())


def assert_only_the_export_and_notes(folder):
    """Nothing in ``folder`` but deploy.json, the files it names and the user's NOTES.txt (unchanged)."""
    assert listing(folder) == sorted(["NOTES.txt", "deploy.json", *live_files(read_previous(folder))])
    assert (folder / "NOTES.txt").read_bytes() == NOTES


def left_behind(folder):
    """Names a killed export left: marked temporaries and the files deploy.json lists as unused."""
    doc = read_previous(folder)
    return sorted([p.name for p in folder.glob(TMP_PREFIX + "*")] + (doc or {}).get("unused", []))


@pytest.mark.slow
def test_a_re_export_killed_at_any_file_operation_leaves_the_old_or_the_new_export(models, trained, tmp_path):
    """Kill at each file operation of a re-export; the folder loads (old or new); the next export cleans up."""
    out, trace, started = tmp_path / "export", tmp_path / "trace", time.monotonic()

    def fresh_copy_of_old():
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(models["old"], out, copy_function=os.link)   # hard links: old's own files stay intact

    fresh_copy_of_old()
    ops, killed = run_killed_at(0, lambda: export.export_checkpoint(trained, out), trace)
    assert not killed and which(out, models) == "new"
    assert {kind for kind, _ in ops} >= {"replace", "unlink", "rmtree", "rmdir"}, ops
    # A whole next export after two of the kills (one before the switch, one after); after the others, the
    # step it starts with (clean_leftovers), which is what cleans up.
    moves = [i for i, (kind, path) in enumerate(ops, 1) if kind == "replace" and not path.endswith("deploy.json")]
    removals = [i for i, (kind, _) in enumerate(ops, 1) if kind == "unlink" and i > moves[-1]]
    seen, leftovers = [], {}
    for n in range(1, len(ops) + 1):
        fresh_copy_of_old()
        met, killed = run_killed_at(n, lambda: export.export_checkpoint(trained, out), trace)
        # The same operations (the files' names may differ: MXNet names nodes by a per-process count).
        assert killed and [kind for kind, _ in met] == [kind for kind, _ in ops[:n]]
        seen.append(which(out, models))
        leftovers[n] = left_behind(out)
        if n in (moves[1], removals[0]):
            export.export_checkpoint(trained, out)      # the next export
            assert which(out, models) == "new"
        else:
            clean_leftovers(out, read_previous(out))
            check_digests(load_deploy(out), out / "deploy.json")   # cleaning left the export whole
        assert_only_the_export_and_notes(out)
    print(f"{len(ops)} file operations killed at ({', '.join(sorted({k for k, _ in ops}))}), "
          f"{time.monotonic() - started:.1f} s; loaded after each: {seen}")
    switch = seen.index("new")
    assert 0 < switch and seen == ["old"] * switch + ["new"] * (len(ops) - switch)
    assert ops[switch - 1][0] == "replace" and ops[switch - 1][1] == str(out / "deploy.json")
    # Kills between the first rename and the last removal left files behind; the next export removed them.
    assert sum(bool(names) for names in leftovers.values()) >= len(ops) - 2, leftovers


def test_a_first_export_killed_at_any_file_operation_leaves_nothing_after_the_next(models, trained, tmp_path):
    """A first export killed: the folder holds no export or the new one, and an interrupted one is refused
    in one line; the next export leaves only its files and the user's."""
    out, trace = tmp_path / "export", tmp_path / "trace"
    out.mkdir()
    (out / "NOTES.txt").write_bytes(NOTES)
    ops, _ = run_killed_at(0, lambda: export.export_checkpoint(trained, out), trace)
    kinds = [kind for kind, _ in ops]
    # Killed before the first rename, between two renames of model files, and after the switch.
    sampled = [1, kinds.index("replace", 2) + 1, len(ops)]
    states = []
    for n in sampled:
        for path in out.iterdir():
            if path.name != "NOTES.txt":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        run_killed_at(n, lambda: export.export_checkpoint(trained, out), trace)
        if not (out / "deploy.json").exists():
            states.append("none")
        else:
            try:
                states.append(which(out, models))
            except SimplePoseError as err:
                assert "was interrupted before its model was in place; export the checkpoint again" in str(err)
                assert "\n" not in str(err)
                states.append("interrupted")
        previous = clean_leftovers(out, read_previous(out))   # what the next export does first
        assert listing(out) == sorted(["NOTES.txt", *(["deploy.json", *live_files(previous)] if previous else [])])
    print(f"first export: killed at {sampled} of {len(ops)} file operations ({', '.join(kinds)}); after each: "
          f"{states}")
    assert set(states) == {"none", "interrupted", "new"} and states[-1] == "new"


def test_a_moved_or_copied_export_checks_itself_and_a_tampered_one_is_refused(models, tmp_path):
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.copytree(models["old"], tmp_path / "export")
    os.rename(tmp_path / "export", moved)
    assert which(moved, models) == "old"
    doc = json.loads((moved / "deploy.json").read_text())
    assert all("/" not in doc[k] for k in ("symbol", "params", "onnx"))
    # Edited with its checkpoint gone: only the description's own digest can tell.
    edited = tmp_path / "edited"
    shutil.copytree(moved, edited)
    (edited / "deploy.json").write_text(json.dumps({**doc, "mean": [0.5, 0.5, 0.5], "checkpoint": "/gone.params"}))
    with pytest.raises(SimplePoseError) as err:
        heatmaps(edited, models["crop"])
    assert str(err.value).startswith(f"{edited / 'deploy.json'}: its fields are not those the export wrote")
    assert "\n" not in str(err.value)
    # A params file that loads (the same network, one weight changed) put in place of the exported one.
    swapped = tmp_path / "swapped"
    shutil.copytree(moved, swapped)
    arrays = mx.nd.load(str(swapped / doc["params"]))
    first = sorted(arrays)[0]
    arrays[first] *= 1.01
    mx.nd.save(str(swapped / doc["params"]), arrays)
    for backend in ("onnx", "mxnet"):
        with pytest.raises(SimplePoseError) as err:
            load_model(swapped, backend)
        assert str(err.value) == (f"{swapped / doc['params']}: not the file the export wrote (its SHA-256 differs "
                                  f"from field 'sha256' of {swapped / 'deploy.json'}): replaced or damaged; restore "
                                  "it, or export the checkpoint again")


def test_an_export_leaves_a_foreign_deploy_json_and_a_file_in_the_way_alone(models, trained, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    foreign = b'{"mine": "not an export"}'
    (out / "deploy.json").write_bytes(foreign)
    with pytest.raises(SimplePoseError, match="not a simplepose export description .* and an export would replace"):
        export.export_checkpoint(trained, out)
    assert listing(out) == ["deploy.json"] and (out / "deploy.json").read_bytes() == foreign
    with pytest.raises(SimplePoseError, match=r"--name '\.\./x': expected a file name stem \(no folder"):
        export.export_checkpoint(trained, tmp_path / "other", name="../x")     # names stay in the folder
    assert not (tmp_path / "other").exists()
    # The names the next export writes: a forked export starts from this process's state, so it writes the
    # same bytes (MXNet names the network's nodes by a per-process count).
    run_killed_at(0, lambda: export.export_checkpoint(trained, tmp_path / "probe"), tmp_path / "trace")
    new_params = json.loads((tmp_path / "probe" / "deploy.json").read_text())["params"]
    shutil.rmtree(out)
    shutil.copytree(models["old"], out)
    (out / new_params).write_bytes(b"the user's")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(SimplePoseError) as err:
        export.export_checkpoint(trained, out)
    assert str(err.value) == (f"{out / new_params}: a file of this name is in the export folder, and its "
                              "deploy.json does not name it; move it away, or export to another folder")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_first_format_export_loads_and_is_replaced_with_its_files(models, trained, tmp_path):
    """An export of the first format (plain names, the checkpoint by a relative path, no digests) still
    loads; a re-export removes its files, which its deploy.json names, and keeps the user's."""
    out = tmp_path / "legacy"
    out.mkdir()
    doc = json.loads((models["old"] / "deploy.json").read_text())
    legacy = {"symbol": f"{MODEL}-symbol.json", "params": f"{MODEL}-0000.params", "onnx": f"{MODEL}.onnx"}
    for role, name in legacy.items():
        shutil.copyfile(models["old"] / doc[role], out / name)
    kept = {k: v for k, v in doc.items() if not k.endswith("sha256")}
    (out / "deploy.json").write_text(json.dumps({**kept, **legacy, "format": "simplepose-export-1",
                                                 "checkpoint": os.path.relpath(doc["checkpoint"], out)}))
    (out / "NOTES.txt").write_bytes(NOTES)
    assert which(out, models) == "old"
    export.export_checkpoint(trained, out)
    assert_only_the_export_and_notes(out)
    assert which(out, models) == "new" and not set(legacy.values()) & set(listing(out))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "walk.mp4"
    assert synthetic_main(["--video", str(path), "--frames", "8", "--width", "160", "--height", "120"]) == 0
    return path


def test_a_predict_killed_mid_write_leaves_nothing_after_the_next(models, synthetic, video, tmp_path):
    """Kill predict while it writes an image's results, in the middle of a video and at its last rename; the
    next predict removes the marked temporaries (no *.tmp* left) and the user's file stays."""
    out, trace, started = tmp_path / "out", tmp_path / "trace", time.monotonic()
    image = sorted(Path(synthetic["val_images"]).glob("*.jpg"))[0]
    argv = ["--model", str(models["old"]), "--input", str(image), "--input", str(video), "--out", str(out),
            "--chunk", "2"]
    frame_write = ((VideoSink, "write"),)

    def clear():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        (out / "NOTES.txt").write_bytes(NOTES)

    clear()
    ops, _ = run_killed_at(0, lambda: predict.main(argv), trace, frame_write)
    finals = sorted(["NOTES.txt", f"{image.stem}.json", f"{image.stem}.png", "walk.jsonl", "walk.mp4"])
    assert listing(out) == finals
    writes = [i for i, (kind, _) in enumerate(ops, 1) if kind == "write"]
    renames = [i for i, (kind, _) in enumerate(ops, 1) if kind == "replace"]
    assert len(writes) == 8 and len(renames) == 4
    left = {}
    for n in (renames[0], writes[4], renames[-1]):
        clear()
        _, killed = run_killed_at(n, lambda: predict.main(argv), trace, frame_write)
        assert killed
        left[n] = [name for name in listing(out) if name.startswith(TMP_PREFIX)]
        assert predict.main(argv) == 0        # the next predict
        assert listing(out) == finals and (out / "NOTES.txt").read_bytes() == NOTES
        assert len((out / "walk.jsonl").read_text().splitlines()) == 8
        video_out = cv2.VideoCapture(str(out / "walk.mp4"))
        assert sum(video_out.read()[0] for _ in range(9)) == 8   # an MP4 of the 8 frames
    print(f"predict: killed at {len(left)} of {len(ops)} operations in {time.monotonic() - started:.1f} s; "
          f"left: {left}")
    assert any(name.endswith(".mp4") and ".tmp" not in name for names in left.values() for name in names)
    assert all(names for names in left.values()), left


def test_the_same_model_exported_again_keeps_its_names_and_mends_a_damaged_file(models, trained, tmp_path):
    out = tmp_path / "export"
    # Forked: the child writes the bytes this process writes next (MXNet names nodes by a per-process count).
    run_killed_at(0, lambda: export.export_checkpoint(trained, out), tmp_path / "trace")
    names, doc = listing(out), json.loads((out / "deploy.json").read_text())
    (out / doc["params"]).write_bytes(b"damaged")
    export.export_checkpoint(trained, out)
    assert listing(out) == names and which(out, models) == "new"
