"""The training loop: one epoch of forward, weighted L2 loss, backward and Adam update.

``EpochLoop`` receives its parts (network, trainer, loader, ...) as a ``Parts`` record, so a
test or a benchmark (``bench/train_step.py``) can run the real loop on parts of its own.
What happens around a batch lives beside the loop: the NaN policy and Ctrl-C in ``guards``,
the agreement between distributed workers in ``distributed``.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Iterable

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from tqdm import tqdm

from simplepose.data.guard import GuardedSamples
from simplepose.data.samples import EpochSampler
from simplepose.runtime.mxnet import InputNormalizer
from simplepose.training.metrics import HeatmapAccuracy
from simplepose.training.distributed import Workers
from simplepose.training.eta import RunClock, clock
from simplepose.training.guards import DeferredInterrupt, NanPolicy, StopRequested
from simplepose.training.state import EpochProgress, RunState
from simplepose.training.tensorboard import TensorBoardLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parts:
    """What a training epoch runs on (``build.build_parts`` makes them from a config).

    ``loader`` yields batches of (crops (N, h, w, 3) uint8 BGR, heatmaps (N, K, h/4, w/4),
    weights (N, K, 1, 1), bad (N,) int32: -1 or the dataset index of a skipped record);
    ``batch_size`` is N = --batch-size x devices; the update divides by it times the workers.
    """

    net: gluon.Block
    trainer: gluon.Trainer
    loader: Iterable
    sampler: EpochSampler
    samples: GuardedSamples       # the loader's dataset: names a skipped record
    ctx: list[mx.Context]
    to_input: InputNormalizer     # the loader's uint8 crops -> model input, on the device
    dtype: str                    # the network's dtype (--dtype)
    batch_size: int
    iters_per_epoch: int
    workers: Workers


def aux_params(net: gluon.Block) -> list[gluon.Parameter]:
    """BatchNorm running statistics: not trained, updated by the forward pass itself."""
    return [p for p in net.collect_params().values() if p.grad_req == "null"]


# The training half of an epoch's metrics row for the untrained model (epoch 0): the same keys as
# ``EpochLoop.train_epoch`` returns, so that every row of metrics.jsonl has the same keys.
NOT_TRAINED: dict[str, Any] = {"train_loss": None, "lr": None, "train_acc": None, "samples_per_sec": None,
                               "seconds": 0.0, "nan_skipped": 0}


class EpochLoop:
    """Trains epochs on ``parts``, counting into ``state``; see the module docstring.

    Args:
        log_interval: log speed, loss, accuracy and the epoch's ETA every N batches (0: never).
        num_epochs: shown in the progress bar.
        tensorboard: receives the logged batches' loss, learning rate and speed.
        run_clock: the run's measured epochs: the bar shows the time left for the whole run (``run_left``).
    """

    def __init__(self, parts: Parts, state: RunState, nan: NanPolicy, log_interval: int, num_epochs: int,
                 tensorboard: TensorBoardLog, run_clock: RunClock | None = None):
        self.parts = parts
        self.state = state
        self.nan = nan
        self.log_interval = log_interval
        self.num_epochs = num_epochs
        self.tensorboard = tensorboard
        self.run_clock = run_clock
        self.loss_fn = gluon.loss.L2Loss()
        self.aux = aux_params(parts.net)
        self.interrupt = DeferredInterrupt()   # listens for Ctrl-C once entered (training.fit does)

    def forward_backward(self, data: mx.nd.NDArray, label: mx.nd.NDArray, weight: mx.nd.NDArray
                         ) -> tuple[float, list[mx.nd.NDArray], list[mx.nd.NDArray]]:
        """Gradients of one batch split over the devices: (summed loss, per-device labels, per-device outputs)."""
        p = self.parts
        xs, ys, ws = (gluon.utils.split_and_load(b, p.ctx) for b in (data, label, weight))
        with autograd.record():
            outs = [p.net(p.to_input(x).astype(p.dtype, copy=False)) for x in xs]
            losses = [self.loss_fn(o.astype("float32", copy=False), y, w) for o, y, w in zip(outs, ys, ws)]
        autograd.backward(losses)
        return sum(float(l.sum().asscalar()) for l in losses), ys, outs

    def step(self, data: mx.nd.NDArray, label: mx.nd.NDArray, weight: mx.nd.NDArray
             ) -> tuple[float, list[mx.nd.NDArray], list[mx.nd.NDArray]]:
        """One update on one batch, unless the loss is not finite (then the NaN policy decides).

        Returns the summed loss of the batch and the per-device labels and outputs.
        """
        saved = self.nan.snapshot(self.aux)
        loss, ys, outs = self.forward_backward(data, label, weight)
        loss = self.nan.agree(loss)
        if not np.isfinite(loss):
            self.nan.restore(self.aux, saved)
            return loss, ys, outs
        # Distributed: the server sums the workers' gradients, so normalise by the global batch.
        self.parts.trainer.step(self.parts.batch_size * self.parts.workers.num_workers)
        return loss, ys, outs

    def train_epoch(self, epoch: int, progress: EpochProgress | None = None) -> dict[str, Any]:
        """Train one epoch, or its remaining batches when ``progress`` (a resumed stop) is given.

        Returns train_loss (mean per sample), lr, train_acc, samples_per_sec, seconds, nan_skipped.
        """
        parts, state = self.parts, self.state
        p = state.progress = progress or EpochProgress(epoch)
        metric = HeatmapAccuracy()
        if p.hits is not None:
            metric.hits, metric.counted = np.array(p.hits), np.array(p.counted)
        parts.sampler.set_epoch(epoch, skip=p.batches * parts.batch_size)
        tic, btic, seconds0 = time.time(), time.time(), p.seconds
        bar = tqdm(parts.loader, desc=f"epoch {epoch}/{self.num_epochs}", disable=None, leave=False,
                   initial=p.batches, total=parts.iters_per_epoch)
        first = p.batches + 1   # the first batch this process runs in this epoch
        for i, (data, label, weight, bad) in enumerate(bar, start=first):
            state.clean = False
            loss, ys, outs = self.step(data, label, weight)
            if np.isfinite(loss):
                p.loss_sum += loss
                p.seen += data.shape[0]
                metric.update([y.asnumpy() for y in ys], [o.astype("float32").asnumpy() for o in outs])
            else:
                self.nan.handle(loss, epoch, i, p, state)
            self._count_bad(bad.asnumpy())
            p.batches = i
            if metric.hits is not None:
                p.hits, p.counted = metric.hits.tolist(), metric.counted.tolist()
            p.seconds = seconds0 + time.time() - tic
            state.clean = True
            bar.set_postfix(loss=f"{p.loss_sum / max(p.seen, 1):.2e}", acc=f"{metric.get()[1]:.3f}",
                            **self._run_left(epoch, i, first, time.time() - tic))
            if self.log_interval and i % self.log_interval == 0:
                self._log_batch(epoch, i, time.time() - btic, p.loss_sum / max(p.seen, 1), metric)
                btic = time.time()
            if self.stop_requested():
                raise StopRequested
        parts.workers.average_aux(self.aux, parts.ctx[0])
        return {"train_loss": p.loss_sum / max(p.seen, 1), "lr": parts.trainer.learning_rate,
                "train_acc": metric.get()[1], "samples_per_sec": p.seen / max(p.seconds, 1e-9),
                "seconds": p.seconds, "nan_skipped": len(p.nan_skipped)}

    def _run_left(self, epoch: int, batch: int, first: int, seconds: float) -> dict[str, str]:
        """The bar's ``run_left``: the rest of this epoch at the pace of its batches ``first``..``batch``
        (``seconds``), its validation when due, then the later epochs ({} without a clock)."""
        if self.run_clock is None:
            return {}
        per_batch = seconds / (batch - first + 1)
        total = self.parts.iters_per_epoch
        left = self.run_clock.left(epoch, (total - batch) * per_batch, total * per_batch, validated=False)
        return {"run_left": clock(left)}

    def _log_batch(self, epoch: int, batch: int, seconds: float, loss: float, metric: HeatmapAccuracy) -> None:
        """One line for the last ``log_interval`` batches (``Batch[k/N]``, the epoch's ETA at their pace),
        and the same figures to TensorBoard."""
        total = self.parts.iters_per_epoch
        speed = self.parts.batch_size * self.log_interval / max(seconds, 1e-9)
        eta = round((total - batch) * seconds / self.log_interval)
        lr = self.parts.trainer.learning_rate
        log.info("Epoch[%d] Batch[%d/%d] ETA %d:%02d Speed: %.1f samples/sec loss=%.6f lr=%g %s=%.3f", epoch, batch,
                 total, eta // 60, eta % 60, speed, loss, lr, *metric.get())
        self.tensorboard.batch((epoch - 1) * total + batch, loss, lr, speed)

    def stop_requested(self) -> bool:
        """Ctrl-C seen here or, distributed, by any worker: all workers stop after the same batch."""
        return self.parts.workers.any(self.interrupt.requested)

    def _count_bad(self, bad: np.ndarray) -> None:
        for idx in bad[bad >= 0].tolist():
            if idx not in self.state.bad_samples:
                log.warning("skipped bad image %s (--on-bad-record skip)", self.parts.samples.describe(idx))
            self.state.bad_samples.add(int(idx))
