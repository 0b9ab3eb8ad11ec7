"""What a training run's log says in words: an epoch's line, what was skipped, the run's last line.

Only measured figures are shown (an epoch that does not validate shows no validation fields; AP needs OKS
sigmas), and no line holds a raw Python object.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from simplepose.rundir.checkpoint import BEST, latest_checkpoint, load_manifest
from simplepose.training.eta import clock
from simplepose.training.state import RunState

# The log's names of a metrics row's validation fields.
NAMES = {"val_loss": "val loss", "val_acc": "acc", "val_ap": "AP", "val_pck_0.2": "PCK@0.2", "val_auc": "AUC",
         "val_epe": "EPE(px)"}


def scores(row: dict[str, Any]) -> str:
    """The validation figures of a metrics row that were measured, as the log shows them."""
    return " ".join(f"{name}={row[key]:.4f}" for key, name in NAMES.items() if row[key] is not None)


def epoch_line(row: dict[str, Any], num_epochs: int, validation_seconds: float | None, left: str) -> str:
    """``Epoch[E/N] done in ...``: training figures, the validation's when it ran, then ``left`` (the run's
    time left, "" at the end)."""
    validated = validation_seconds is not None
    return (f"Epoch[{row['epoch']}/{num_epochs}] done in {row['seconds']:.0f}s"
            f"{f' (validation {validation_seconds:.0f}s)' if validated else ''}: {row['samples_per_sec']:.1f} "
            f"samples/sec, train loss={row['train_loss']:.6f} acc={row['train_acc']:.3f}, lr={row['lr']:g}"
            f"{f', {scores(row)}' if validated else ''}{f'; {left}' if left else ''}")


def skipped(datasets: Iterable[tuple[str, Any]], state: RunState, describe) -> str:
    """What was skipped in a run (bad records of each ``(name, dataset)``, bad images named by ``describe(index)``,
    NaN batches); "" when nothing was."""
    notes = []
    for name, dataset in datasets:
        if dataset is not None and dataset.skipped:
            notes.append(f"{sum(dataset.skipped.values())} bad {name} records skipped at load "
                         f"({', '.join(f'{n} {why}' for why, n in sorted(dataset.skipped.items()))})")
    if state.bad_samples:
        notes.append(f"{len(state.bad_samples)} bad training images skipped by the loader "
                     f"(e.g. {describe(min(state.bad_samples))})")
    if state.nan_skipped:
        notes.append(f"{state.nan_skipped} batch updates skipped for a non-finite loss")
    return "; ".join(notes)


def ending(save_dir: Path, num_epochs: int, epochs: int, seconds: float, validates: bool) -> str:
    """The run's last line: ``epochs`` trained in this process in ``seconds``, and the checkpoint to use:
    best.json, else the latest (``validates``: whether the run validated at all)."""
    done = f"finished {num_epochs} epochs " + (f"in {clock(seconds)}" if epochs == num_epochs
                                               else f"({epochs} in this run, {clock(seconds)})")
    best = save_dir / f"{BEST}.json"
    if best.is_file():
        doc = load_manifest(best)
        metrics = doc.get("metrics") or {}
        by = metrics.get("best_by", "val_ap")   # rows before best_by: chosen by AP
        score = metrics.get(by)
        shown = f", {NAMES.get(by, by)} {score:.4f}" if isinstance(score, (int, float)) else ""
        return f"{done}; the best checkpoint is {best}: epoch {doc['epoch']}{shown}"
    why = "no validation" if not validates else "no validation score to rank epochs"
    return f"{done}; {why}, so no best.json: use the last checkpoint, {latest_checkpoint(save_dir)}"
