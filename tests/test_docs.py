"""The documentation builds: Sphinx-Gallery executes both tutorials and their pages carry their figures."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_docs_build_runs_the_tutorials(tmp_path):
    # A copy of docs/ next to a link to the package: Sphinx-Gallery writes its pages into the source tree
    # and skips tutorials it has run before, so building a fresh copy really executes them.
    shutil.copytree(ROOT / "docs", tmp_path / "docs",
                    ignore=shutil.ignore_patterns("_build", "auto_tutorials", "sg_execution_times.rst"))
    (tmp_path / "simplepose").symlink_to(ROOT / "simplepose")
    out = tmp_path / "html"
    res = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
                          str(tmp_path / "docs"), str(out)], capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (out / "index.html").is_file() and "auto_tutorials/index.html" in (out / "index.html").read_text()
    pages = {"plot_1_dive_deep": ["COCO keypoint evaluation on ground-truth boxes", "BatchNormCudnnOff",
                                  "max abs difference 0"],
             "plot_2_own_keypoints": ["checkpoint: K = 23", "right_small_toe", "worst_instances.png"]}
    for name, texts in pages.items():
        html = (out / "auto_tutorials" / f"{name}.html").read_text()
        for text in texts:
            assert text in html, (name, text)
        figures = sorted(set(re.findall(rf"_images/(sphx_glr_{name}_\d+\.png)", html)))
        assert len(figures) >= 7, (name, figures)
        for fig in figures:
            assert (out / "_images" / fig).stat().st_size > 10_000, fig
