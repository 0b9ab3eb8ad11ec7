"""What the training loop does when something goes wrong: a non-finite loss, Ctrl-C, SIGTERM.

- ``NanPolicy``: a NaN or infinite loss stops before the update (``--nan-policy stop``) or
  skips that update (``skip``; with several workers all skip together), leaving BatchNorm's
  running statistics as they were before the batch.
- ``DeferredInterrupt``: the first Ctrl-C (or SIGTERM) asks the loop to stop at the next batch
  boundary, where the state is consistent and gets checkpointed (``StopRequested``).
"""
from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from simplepose.errors import SimplePoseError
from simplepose.training.distributed import Workers
from simplepose.training.state import EpochProgress, RunState

log = logging.getLogger(__name__)


class StopRequested(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, acted on between two batches: the state is consistent and gets checkpointed."""


class DeferredInterrupt:
    """SIGINT or SIGTERM sets a flag that the loop checks between batches; a second signal stops at once.

    An interrupt inside ``trainer.step`` could leave some parameters updated and others not, so
    the first Ctrl-C only asks the loop to stop at the next clean point. SIGTERM, which cluster
    schedulers send before preemption, does the same; the command then exits with status 143
    (128 + SIGTERM) instead of Ctrl-C's 130. Only in the main thread (Python delivers signals there).
    """

    def __init__(self):
        self.requested = False
        self.signum = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum
        name = signal.Signals(signum).name
        log.warning("%s: stopping after this batch and writing a checkpoint (%s again to stop now)", name, name)

    def __exit__(self, exc_type, exc, tb) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        if isinstance(exc, KeyboardInterrupt):
            exc.exit_status = 128 + self.signum   # read by cli.run_main


class NanPolicy:
    """``--nan-policy``: ``stop`` (an error naming the batch) or ``skip`` (count it, go on).

    Args:
        save_dir: the run directory, named in the error (its last checkpoint is intact).
    """

    def __init__(self, policy: str, workers: Workers, save_dir: Path):
        self.skip = policy == "skip"
        self.workers = workers
        self.save_dir = save_dir

    def snapshot(self, aux: Sequence[gluon.Parameter]) -> list[list[mx.nd.NDArray]]:
        """Copies of BatchNorm's running statistics, which the forward pass moves and a skipped batch must not."""
        return [[a.copy() for a in p.list_data()] for p in aux] if self.skip else []

    def agree(self, loss: float) -> float:
        """The batch loss, NaN when any worker's loss is not finite (skip: all workers skip together)."""
        if self.skip and self.workers.kv is not None:
            return float("nan") if self.workers.any(not np.isfinite(loss)) else loss
        return loss

    def restore(self, aux: Sequence[gluon.Parameter], saved: list[list[mx.nd.NDArray]]) -> None:
        """Put back the running statistics of ``snapshot`` (no-op with ``stop``: nothing was saved)."""
        for param, arrays in zip(aux, saved):
            for arr, old in zip(param.list_data(), arrays):
                old.copyto(arr)

    def handle(self, loss: float, epoch: int, batch: int, progress: EpochProgress, state: RunState) -> None:
        """After a non-finite ``loss`` in ``batch`` of ``epoch`` (not updated): stop, or count the skip."""
        if not self.skip:
            raise SimplePoseError(
                f"epoch {epoch} batch {batch}: training loss is {loss}; stopped before updating. The "
                f"last checkpoint in {self.save_dir} is intact: lower --lr and --resume it, or pass "
                "--nan-policy skip")
        progress.nan_skipped.append(batch)
        state.nan_skipped += 1
        log.warning("epoch %d batch %d: training loss is %s; update skipped (--nan-policy skip, %d so far)",
                    epoch, batch, loss, state.nan_skipped)
