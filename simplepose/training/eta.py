"""How long the rest of a training run should take, from the epochs measured so far.

An epoch's time is its training (at the pace its batches ran) plus what follows it (metrics, checkpoints),
and, on the epochs that validate (every ``--val-interval``-th and the last), its validation. The two parts
are timed apart, so that a run validating every fifth epoch is not priced as if it validated every epoch.
"""
from __future__ import annotations

from typing import Callable


class RunClock:
    """Measured epoch and validation times (seconds) and the time the epochs left should take.

    Args:
        num_epochs: the run's last epoch.
        validates: ``validates(epoch)`` is whether that epoch ends with a validation.
    """

    def __init__(self, num_epochs: int, validates: Callable[[int], bool]):
        self.num_epochs = num_epochs
        self.validates = validates
        self._epochs: list[float] = []        # whole epochs without their validation
        self._validations: list[float] = []

    def epoch_done(self, seconds: float, validation: float | None) -> None:
        """Record an epoch: ``seconds`` from its first batch to its checkpoint, ``validation`` of them validating
        (None: it did not validate). A resumed epoch, partly trained before, is not a measure: leave it out."""
        self._epochs.append(seconds - (validation or 0.0))
        self.validation_done(validation)

    def validation_done(self, seconds: float | None) -> None:
        """Record a validation alone (the untrained model's, before epoch 1)."""
        if seconds is not None:
            self._validations.append(seconds)

    @property
    def validation_timed(self) -> bool:
        """Whether a validation has been timed (else the estimates leave validation out)."""
        return bool(self._validations)

    def left(self, epoch: int, epoch_left: float = 0.0, epoch_seconds: float | None = None,
             validated: bool = True) -> float | None:
        """Seconds until the run ends, from inside ``epoch`` (or right after it: the defaults).

        Args:
            epoch_left: the rest of ``epoch``'s training.
            epoch_seconds: one epoch's training at the current pace, used while no epoch has been measured.
            validated: whether ``epoch``'s own validation is behind (False: it is still to come, when due).
        Returns:
            None while nothing has been measured and no pace is given.
        """
        per_epoch = sum(self._epochs) / len(self._epochs) if self._epochs else epoch_seconds
        if per_epoch is None:
            return None
        per_validation = sum(self._validations) / len(self._validations) if self._validations else 0.0
        later = range(epoch + 1, self.num_epochs + 1)
        validations = sum(map(self.validates, later)) + (not validated and self.validates(epoch))
        return epoch_left + per_epoch * len(later) + per_validation * validations

    def describe(self, epoch: int) -> str:
        """After ``epoch``: ``"about 0:01:23 left (8 epochs)"``, or "" at the last epoch or with nothing measured."""
        left = self.left(epoch)
        if left is None or epoch >= self.num_epochs:
            return ""
        epochs = self.num_epochs - epoch
        more = "" if self.validation_timed or not any(map(self.validates, range(epoch + 1, self.num_epochs + 1))) \
            else ", validation not timed yet"
        return f"about {clock(left)} left ({epochs} epoch{'s' if epochs > 1 else ''}{more})"


def clock(seconds: float) -> str:
    """``H:MM:SS`` of a duration in seconds (rounded)."""
    s = max(round(seconds), 0)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
