"""MXNet DataLoader for pose samples: persistent worker processes, single-threaded OpenCV in each.

MXNet's DataLoader forks its worker pool once, in its constructor, and keeps it
across epochs (the workers keep their copy of the dataset; ``EpochSampler`` sends
``(index, epoch)`` keys). What it lacks is a worker initialiser: OpenCV would run
its own thread pool in every worker, so N workers on N cores oversubscribe the
machine and steal cycles from the training step. Calling ``cv2.setNumThreads(1)``
inside a forked worker can deadlock once the parent has used OpenCV's pool, so
the setting is made in the parent just for the fork: the workers inherit one
thread, and the parent gets its own setting back.
"""
from __future__ import annotations

from typing import Any

import cv2
from mxnet import gluon


def pose_loader(dataset: Any, batch_size: int, num_workers: int, **kwargs: Any) -> gluon.data.DataLoader:
    """``gluon.data.DataLoader`` over ``dataset``; its worker processes persist and run OpenCV single-threaded.

    ``kwargs`` go to the DataLoader (sampler, shuffle, last_batch, ...).
    """
    threads = cv2.getNumThreads()
    if num_workers > 0:
        cv2.setNumThreads(1)
    try:
        return gluon.data.DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, **kwargs)
    finally:
        cv2.setNumThreads(threads)
