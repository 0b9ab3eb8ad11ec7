"""What the tutorials need to run their shell commands and show the pictures those write; kept out of the
rendered pages (``sphinx_gallery_conf["ignore_pattern"]`` in docs/conf.py leaves files named ``_*.py`` out of
the gallery; a tutorial imports this module from its own folder, which Sphinx-Gallery puts on ``sys.path``).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt

import simplepose

HERE = Path(__file__).resolve().parent


class Shell:
    """Runs a page's shell commands in ``work`` (``$WORK``), each of which must be one of the page's ``bash``
    blocks word for word: what the reader sees is what ran. ``python`` is this interpreter and
    ``python -m simplepose...`` imports this checkout."""

    def __init__(self, page: str, work: Path):
        self.work = work
        self.shown = bash_blocks((HERE / page).read_text())
        self.env = {**os.environ, "WORK": str(work), "PYTHONUNBUFFERED": "1",
                    "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
                    "PYTHONPATH": str(Path(simplepose.__file__).resolve().parents[1])}

    def __call__(self, command: str, tail: int = 6) -> None:
        """Run ``command`` and print the last ``tail`` lines of its output, stdout and stderr as one stream in
        the order they were written (unbuffered), ``$WORK`` for the scratch folder's path."""
        assert " ".join(command.replace("\\\n", " ").split()) in self.shown, \
            f"not a bash block of this page: {command}"
        res = subprocess.run(["bash", "-c", command], cwd=self.work, env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        lines = res.stdout.strip().splitlines()
        print("\n".join(lines[-tail:]).replace(str(self.work), "$WORK"))
        if res.returncode:
            raise RuntimeError(f"exit status {res.returncode}: {command}")


def bash_blocks(source: str) -> set[str]:
    """The commands of the ``.. code-block:: bash`` blocks in a tutorial's comments, whitespace normalised and
    continuation lines (``\\``) joined."""
    commands, inside, current = set(), False, []
    for line in source.splitlines() + ["#"]:
        text = line[1:].strip() if line.startswith("#") else None
        if text == ".. code-block:: bash":
            inside = True
        elif inside and (text is None or (not text and current) or (text and not line.startswith("#    "))):
            inside = False
        elif inside and text:
            current.append(text.rstrip("\\"))
            if not text.endswith("\\"):
                commands.add(" ".join(" ".join(current).split()))
                current = []
    return commands


def show(png: Path, width: float = 10) -> None:
    """Draw a PNG a command wrote as a figure ``width`` inches wide (Sphinx-Gallery puts it in the page)."""
    image = plt.imread(png)
    fig, ax = plt.subplots(figsize=(width, width * image.shape[0] / image.shape[1]))
    ax.imshow(image)
    ax.set_axis_off()
