"""Sphinx configuration: the user guide, the CLI and API references, and the tutorials.

Build with ``make docs`` (HTML in docs/_build/html). The CLI reference is rendered from the argparse parsers
(docs/_ext/cliref.py), the API reference by autodoc/autosummary from the package (pages generated into
docs/api/generated), and every tutorial in docs/tutorials/plot_*.py runs on the CPU while the docs build, on
the built-in synthetic dataset (Sphinx-Gallery).
"""
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "simplepose"
author = "simplepose developers"
copyright = "simplepose developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.napoleon",
              "sphinx_gallery.gen_gallery", "cliref"]
exclude_patterns = ["_build", "tutorials"]   # the gallery sources; their pages are in auto_tutorials
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme = "alabaster"
html_theme_options = {"page_width": "1100px", "sidebar_width": "220px"}

# API reference: one page per module, generated from the package (docs/api.rst lists the packages, walked
# recursively, and the modules directly in simplepose/).
autosummary_generate = True
autosummary_ignore_module_all = True      # every submodule, whatever a package's __all__ lists
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_inherit_docstrings = False           # MXNet's own docstrings (HybridBlock.forward ...) are not ours
# Shared libraries in the package (the region decoder, libroijpeg.so) are listed by pkgutil but are no
# Python modules: the module template leaves them out. The internal modules (plumbing the commands share, no
# public API) get a note on their page and their own list on their package's page and on docs/api.rst.
INTERNAL_MODULES = ["simplepose.cli", "simplepose.commands", "simplepose.options", "simplepose.flags",
                    "simplepose.io", "simplepose.tempfiles", "simplepose.json_numbers", "simplepose.rundir.lock",
                    "simplepose.training.guards", "simplepose.data.guard"]
autosummary_context = {"not_python": ["libroijpeg"], "internal": INTERNAL_MODULES}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

sphinx_gallery_conf = {
    "examples_dirs": ["tutorials"],
    "gallery_dirs": ["auto_tutorials"],
    "filename_pattern": r"/plot_",          # execute every plot_*.py
    "ignore_pattern": r"^(__init__|_.*)\.py$",   # not a page: _helpers.py, which the tutorials import
    "within_subsection_order": "FileNameSortKey",   # a name, not the class: the config stays picklable
    "abort_on_example_error": True,         # a failing tutorial fails the build
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "min_reported_time": 1,
}
smartquotes = False                          # flags such as --input-size stay two hyphens in prose
# A ``::`` block is a command line, a log or an error message (in the guide, the CLI reference and the
# docstrings), never Python: without this, Python's keywords and builtins (from, input, id, dir) get coloured.
highlight_language = "text"


def summary_line_apart(app, what, name, obj, options, lines):
    """A package docstring that opens ``One line. ::`` above its list of modules: the ``::`` goes on a line of
    its own (the same page), so that autosummary's one-line summary is the sentence, without a stray ``::``."""
    if what == "module" and lines and lines[0].endswith(" ::"):
        lines[0:1] = [lines[0].removesuffix(" ::"), "", "::"]


# A code cell of a tutorial whose code is all hidden (``sphinx_gallery_start_ignore`` ... ``end_ignore``: a
# shell command the page shows in a bash block just above, run by docs/tutorials/_helpers.py) comes out of
# Sphinx-Gallery as an empty code block followed by the command's output: the empty block goes.
EMPTY_CODE_BLOCK = re.compile(r"^\.\. code-block:: Python\n(?:   :[\w-]+:.*\n)*(?:[ \t]*\n)+(?=\S)", re.M)


def drop_empty_code_blocks(app, docname, source):
    if docname.startswith("auto_tutorials/"):
        source[0] = EMPTY_CODE_BLOCK.sub("", source[0])


def setup(app):
    app.connect("autodoc-process-docstring", summary_line_apart)
    app.connect("source-read", drop_empty_code_blocks)
