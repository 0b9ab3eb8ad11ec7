"""TensorBoard event files of a training run: what Simple Baselines and mmpose users read their runs in.

Written into ``--save-dir/tensorboard/`` by the worker that writes the run directory (rank 0), through
tensorboardX (pure Python on protobuf 4; no TensorFlow). Every series is plotted against the global
batch number (``epoch x batches per epoch + batch``, as mmpose's iterations), so that one purge step
cuts them all at the same place:

- per logged batch: ``train/loss`` (mean per sample so far in the epoch), ``train/lr``,
  ``train/samples_per_sec``;
- per epoch, at the epoch's last batch (0 for the untrained model): every number of the epoch's
  ``metrics.jsonl`` row as ``epoch/KEY`` (``epoch/train_loss``, ``epoch/val_ap``, ...; nulls left out);
- per validated epoch: a few validation people with their predicted skeletons, ``val/predictions/I``.

A resumed run purges the events after the step it resumes from, as ``metrics.jsonl`` moves its later
rows to ``superseded/``, so TensorBoard shows one history. ``--no-tensorboard`` writes none.
"""
from __future__ import annotations

import logging
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from simplepose.rundir.files import TENSORBOARD_DIR

log = logging.getLogger(__name__)



class TensorBoardLog:
    """Event files under ``run_dir/tensorboard``; every method does nothing when ``enabled`` is False.

    Args:
        run_dir: the run directory (``--save-dir``).
        enabled: False for ``--no-tensorboard`` and on workers that write no files.
        purge_step: a resumed run's global batch step: events at or after it (written by the run
            that was cut short) are dropped from the view.
    """

    def __init__(self, run_dir: str | Path, enabled: bool, purge_step: int | None = None):
        self.writer = None
        if enabled:
            from tensorboardX import SummaryWriter   # imported on use: --no-tensorboard needs no tensorboardX
            self.writer = SummaryWriter(str(Path(run_dir) / TENSORBOARD_DIR), purge_step=purge_step,
                                        flush_secs=30)

    def batch(self, step: int, loss: float, lr: float, samples_per_sec: float) -> None:
        """The running training loss (per sample), learning rate and speed at global batch ``step``."""
        if self.writer is None:
            return
        for tag, value in (("train/loss", loss), ("train/lr", lr), ("train/samples_per_sec", samples_per_sec)):
            self.writer.add_scalar(tag, value, step)

    def epoch(self, row: dict[str, Any], step: int) -> None:
        """Every finite number of one ``metrics.jsonl`` row but its epoch, as ``epoch/KEY`` at ``step``."""
        if self.writer is None:
            return
        for key, value in row.items():
            if key != "epoch" and isinstance(value, numbers.Real) and not isinstance(value, bool) \
                    and np.isfinite(value):
                self.writer.add_scalar(f"epoch/{key}", float(value), step)
        self.writer.flush()

    def images(self, tag: str, images: list[np.ndarray], step: int) -> None:
        """(H, W, 3) uint8 RGB pictures (e.g. validation people with predicted skeletons) at ``step``."""
        if self.writer is None or not images:
            return
        for i, image in enumerate(images):
            self.writer.add_image(f"{tag}/{i}", image, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
