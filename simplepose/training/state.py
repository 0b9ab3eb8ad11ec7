"""What a run carries from batch to batch and, through a checkpoint, from one process to the next.

NumPy-free plain data: the loop updates ``RunState`` and ``EpochProgress``; checkpoints store them
(``bad_samples``, ``nan_skipped``, ``progress``); ``ResumePoint`` reads them back from a manifest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simplepose.io import JsonRecord


@dataclass
class EpochProgress:
    """Running sums of one training epoch, so that a stop inside it can be resumed exactly."""

    epoch: int
    batches: int = 0
    loss_sum: float = 0.0              # summed per-sample weighted L2 loss of the counted batches
    seen: int = 0                      # samples of the counted batches
    hits: list[int] | None = None      # HeatmapAccuracy's pooled hits and counts per joint type
    counted: list[int] | None = None
    seconds: float = 0.0               # training time of the epoch so far, over all sessions
    nan_skipped: list[int] = field(default_factory=list)   # batch numbers whose update was skipped


@dataclass
class RunState:
    """Counters of the whole run (stored in every checkpoint) and where the loop is."""

    bad_samples: set[int] = field(default_factory=set)   # dataset indices skipped by the loader
    nan_skipped: int = 0                                  # batch updates skipped for a non-finite loss
    progress: EpochProgress | None = None                 # the epoch being trained, None between epochs
    clean: bool = True                                    # False while a batch is half done


@dataclass(frozen=True)
class ResumePoint:
    """A checkpoint to continue from (``--resume``): its position, files, config and counters.

    ``epoch`` epochs are complete; ``batch`` batches of the next one are done (0 at an epoch
    boundary), with that epoch's running sums in ``progress``.
    """

    manifest: str
    epoch: int
    batch: int
    progress: EpochProgress | None
    params: str
    states: str
    config: dict[str, Any]            # the checkpoint's training config, as stored
    meta: dict[str, Any]              # its KeypointMeta.to_dict()
    bad_samples: tuple[int, ...]
    nan_skipped: int
    batch_size_total: int | None      # samples per update over all devices and workers
    optimizer: JsonRecord | None = None   # the JSON rest of the optimizer state; None: ``states`` is an old pickle

    @classmethod
    def from_manifest(cls, doc: dict[str, Any]) -> "ResumePoint":
        """From ``rundir.directory.find_resume``'s manifest (full file paths and its own path in ``manifest``)."""
        rec = JsonRecord(doc, doc["manifest"])
        batch = rec.int("batch", 0, minimum=0)
        progress = EpochProgress(**rec.sub("progress").data) if batch else None
        return cls(manifest=doc["manifest"], epoch=rec.int("epoch", minimum=0), batch=batch, progress=progress,
                   params=rec.string("params"), states=rec.string("states"), config=rec.sub("config").data,
                   meta=rec.sub("meta").data, bad_samples=tuple(int(i) for i in rec.list("bad_samples", [])),
                   nan_skipped=rec.int("nan_skipped", 0, minimum=0),
                   batch_size_total=rec.int("batch_size_total", None), optimizer=rec.sub("optimizer", None))

    def run_state(self) -> RunState:
        """The counters the resumed run continues from."""
        return RunState(bad_samples=set(self.bad_samples), nan_skipped=self.nan_skipped)
