"""Sphinx configuration: the simplepose tutorials, built and executed by Sphinx-Gallery.

Build with ``make docs`` (HTML in docs/_build/html). Every tutorial in docs/tutorials/plot_*.py
runs on the CPU while the docs build, on the built-in synthetic dataset.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "simplepose"
author = "simplepose developers"
copyright = "simplepose developers"
extensions = ["sphinx_gallery.gen_gallery"]
exclude_patterns = ["_build", "tutorials"]   # the gallery sources; their pages are in auto_tutorials
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px"}

sphinx_gallery_conf = {
    "examples_dirs": ["tutorials"],
    "gallery_dirs": ["auto_tutorials"],
    "filename_pattern": r"/plot_",          # execute every plot_*.py
    "within_subsection_order": "FileNameSortKey",   # a name, not the class: the config stays picklable
    "abort_on_example_error": True,         # a failing tutorial fails the build
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
}
