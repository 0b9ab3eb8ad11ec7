"""Train one epoch and evaluate on each of the 25 real-style stand-in files, as a new user would.

For every dataset of tests/real_style_specs.py (COCO, CrowdPose, AP-10K, Animal-Pose, hands, faces,
DeepFashion2...), writes its stand-in annotation files over the synthetic dataset's images, then runs the two
command lines of issue 12's acceptance, exactly, in a fresh process each:

    train_simple_pose.py --train-ann A --train-images D --val-ann A --val-images D \\
        --model simple_pose_resnet18_v1b --input-size 64,64 --batch-size 8 -j 0 --num-epochs 1 --save-dir RUN
    eval_simple_pose.py --params RUN/CHECKPOINT.json --ann A --images D

and prints one row per dataset: K, both exit codes, AP (when sigmas are known) or PCK@0.2 / EPE, the number of
WARNING lines the two commands logged, and the first error line of a failed command.

    python bench/real_style_corpus.py [--only coco,ap10k] [--work DIR] [--train-images N] [--val-images N]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simplepose.synthetic import generate  # noqa: E402
from tests.real_style import build  # noqa: E402
from tests.real_style_specs import STYLES  # noqa: E402

MODEL_FLAGS = ["--model", "simple_pose_resnet18_v1b", "--input-size", "64,64", "--batch-size", "8", "-j", "0",
               "--num-epochs", "1"]
# The overall figures as the evaluation prints them, one per line: "  AP     0.7123", "  PCK@0.2  0.8000",
# "  EPE      3.2100" (image pixels).
FIGURES = {name: rf"^\s*{re.escape(name)}\s+(-?\d+\.\d+)\s*$" for name in ("AP", "PCK@0.2", "EPE")}


def run(cmd: list[str], log: Path) -> tuple[int, str]:
    """Run one command line; its output goes to ``log``. Returns (exit code, output)."""
    env = {**os.environ, "MXNET_ENGINE_TYPE": "NaiveEngine", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    log.write_text(" ".join(cmd) + "\n\n" + out)
    return proc.returncode, out


def first_error(out: str) -> str:
    """The line a user would read first: the last 'error'/'Error' line (the one-line message or the traceback's)."""
    lines = [ln.strip() for ln in out.splitlines() if re.search(r"error|Error|refus", ln)]
    return lines[-1][:200] if lines else ""


def figures(out: str) -> dict[str, float]:
    """AP, PCK@0.2 and EPE found in the evaluation's output (absent when not printed)."""
    found = {}
    for name, pattern in FIGURES.items():
        match = re.search(pattern, out, re.MULTILINE)
        if match:
            found[name] = float(match.group(1))
    return found


def one(name: str, work: Path, synthetic: dict[str, str], keep: bool) -> dict:
    """Build, train and evaluate dataset ``name``; the row of the table. Without ``keep`` its weights and
    training images are deleted afterwards (the logs stay)."""
    paths = build(name, work / name, synthetic)
    doc = json.loads(Path(paths["val_ann"]).read_text())
    # K as the file gives it: the category's names, else (face sets) the annotations' values.
    k = max(len(c.get("keypoints") or []) for c in doc["categories"]) or len(doc["annotations"][0]["keypoints"]) // 3
    run_dir = work / name / "run"
    t0 = time.perf_counter()
    train_rc, train_out = run([sys.executable, "train_simple_pose.py", "--train-ann", paths["train_ann"],
                               "--train-images", paths["train_images"], "--val-ann", paths["val_ann"],
                               "--val-images", paths["val_images"], *MODEL_FLAGS, "--save-dir", str(run_dir)],
                              work / name / "train.log")
    row = {"dataset": name, "K": k, "train": train_rc, "eval": None, "figures": {}, "error": "",
           "warnings": train_out.count("WARNING")}
    manifests = sorted(run_dir.glob("*-epoch*.json"))
    if train_rc != 0 or not manifests:
        row["error"] = first_error(train_out) or "no checkpoint written"
    else:
        eval_rc, eval_out = run([sys.executable, "eval_simple_pose.py", "--params", str(manifests[-1]),
                                 "--ann", paths["val_ann"], "--images", paths["val_images"]], work / name / "eval.log")
        row.update(eval=eval_rc, figures=figures(eval_out), warnings=row["warnings"] + eval_out.count("WARNING"))
        if eval_rc != 0:
            row["error"] = first_error(eval_out)
    row["seconds"] = time.perf_counter() - t0
    if not keep:   # a run's checkpoints and best copies take ~0.4 GB: 25 of them fill a small disk
        for path in run_dir.glob("*.params"):
            path.unlink()
        for path in run_dir.glob("*.states"):
            path.unlink()
        shutil.rmtree(paths["train_images"], ignore_errors=True)
    return row


def table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    lines = ["| dataset | K | train exit | eval exit | AP | PCK@0.2 | EPE px | warnings | s | first error |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = r["figures"]
        cells = [r["dataset"], r["K"], r["train"], "-" if r["eval"] is None else r["eval"],
                 *(f"{f[key]:.3f}" if key in f else "-" for key in ("AP", "PCK@0.2")),
                 f"{f['EPE']:.1f}" if "EPE" in f else "-", r["warnings"], f"{r['seconds']:.0f}", r["error"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    ok = sum(r["train"] == 0 for r in rows), sum(r["eval"] == 0 for r in rows)
    lines.append(f"\ntrained {ok[0]}/{len(rows)}, evaluated {ok[1]}/{len(rows)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=None, metavar="NAMES", help="comma-separated datasets (default: all 25)")
    p.add_argument("--work", default=None, metavar="DIR", help="working directory (default: a temporary one)")
    p.add_argument("--train-images", type=int, default=16, metavar="N", help="synthetic training images (default 16)")
    p.add_argument("--val-images", type=int, default=6, metavar="N", help="synthetic validation images (default 6)")
    p.add_argument("--keep", action="store_true", help="keep every run's checkpoints and training images")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(STYLES)
    unknown = [n for n in names if n not in STYLES]
    if unknown:
        p.error(f"unknown datasets {unknown}; choose from {', '.join(STYLES)}")
    work = Path(args.work or tempfile.mkdtemp(prefix="real_style_corpus-"))
    synthetic = generate(work / "synthetic", num_train_images=args.train_images, num_val_images=args.val_images,
                         seed=5)
    rows = []
    for name in names:
        rows.append(one(name, work, synthetic, args.keep))
        print(f"{name}: train {rows[-1]['train']}, eval {rows[-1]['eval']} {rows[-1]['error']}", flush=True)
    print(table(rows))
    print(f"\nlogs in {work}/DATASET/{{train,eval}}.log; rerun: python bench/real_style_corpus.py "
          f"--train-images {args.train_images} --val-images {args.val_images}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
