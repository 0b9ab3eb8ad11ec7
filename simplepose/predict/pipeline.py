"""Steps over a stream of items run side by side, one thread each, the results coming out in order.

``Pipeline(items, steps)`` iterates ``steps[-1](...steps[1](steps[0](item)))`` for each item of ``items``: one
thread reads ``items`` (for a video: reading and decoding frames), one thread per step (boxes, poses), and the
caller's thread takes the results (tracking, drawing, encoding), so a chunk of frames is decoded while the one
before is in the detector and the one before that in the pose network. This pays because the slow parts
release Python's GIL: OpenCV's decoding, detection, drawing and encoding, ONNX Runtime's and MXNet's network
runs. Queues between the threads are first-in first-out and hold at most ``depth`` items, so the results come
in the order of ``items`` and memory stays bounded (``depth`` chunks of frames per queue).

An exception in a thread (reading or a step) ends the pipeline: it travels down the queues in the place of the
item it was raised on, after every item before it, and the caller's iteration raises that exception object
itself (its message unchanged); the other threads see the stop and end after their current item. Leaving the
iteration early (an exception in the caller, Ctrl-C, ``break``) stops and joins every thread when the pipeline
is closed (``with Pipeline(...) as results:``), so nothing reads from a file after its owner has closed it.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

# How often (seconds) a thread waiting on a full or empty queue looks whether the pipeline was stopped.
POLL = 0.05
_END = object()   # after the last item


class _Raised:
    """An exception raised in a thread, passed down in the place of the item it was raised on."""

    def __init__(self, error: BaseException):
        self.error = error


class Pipeline:
    """``steps`` applied to each of ``items`` in threads of their own; iterate for the results, in order.

    Args:
        items: the stream (read in a thread of its own: its ``next`` may block, e.g. on a video decoder).
        steps: functions of one item, applied in order.
        depth: items each queue holds at most.
    """

    def __init__(self, items: Iterable[Any], steps: Sequence[Callable[[Any], Any]], depth: int = 2):
        self.stop = threading.Event()
        self.queues: list[queue.Queue] = [queue.Queue(depth) for _ in range(len(steps) + 1)]
        self.threads = [threading.Thread(target=self._read, args=(iter(items), self.queues[0]),
                                         name="pipeline-read", daemon=True)]
        self.threads += [threading.Thread(target=self._apply, args=(step, self.queues[i], self.queues[i + 1]),
                                          name=f"pipeline-step{i}", daemon=True) for i, step in enumerate(steps)]
        for thread in self.threads:
            thread.start()

    def _put(self, q: queue.Queue, item: Any) -> bool:
        """Put ``item`` on ``q`` unless the pipeline stops first (False then)."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue) -> Any:
        """The next item of ``q``; ``_END`` when the pipeline stops first."""
        while not self.stop.is_set():
            try:
                return q.get(timeout=POLL)
            except queue.Empty:
                continue
        return _END

    def _read(self, items: Iterator[Any], out: queue.Queue) -> None:
        try:
            for item in items:
                if not self._put(out, item):
                    return
        except BaseException as exc:   # passed to the caller, who raises it
            self._put(out, _Raised(exc))
            return
        self._put(out, _END)

    def _apply(self, step: Callable[[Any], Any], inbox: queue.Queue, out: queue.Queue) -> None:
        while True:
            item = self._get(inbox)
            if item is _END or isinstance(item, _Raised):
                self._put(out, item)
                return
            try:
                result = step(item)
            except BaseException as exc:   # passed to the caller, who raises it
                self._put(out, _Raised(exc))
                return
            if not self._put(out, result):
                return

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self._get(self.queues[-1])
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop every thread and wait for it to end (each finishes the item it holds). A Ctrl-C while waiting
        waits on, then ends as an interrupt: the reading thread must be done before its video is closed."""
        self.stop.set()
        interrupted = False
        for thread in self.threads:
            while thread.is_alive():
                try:
                    thread.join()
                except KeyboardInterrupt:
                    interrupted = True
        if interrupted:
            raise KeyboardInterrupt

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def in_order(items: Iterable[Any], steps: Sequence[Callable[[Any], Any]], threaded: bool) -> Iterator[Any]:
    """The results of ``steps`` over ``items`` in order: in a ``Pipeline`` when ``threaded``, else one item at a
    time in the caller's thread (no thread started). Close the iterator (or exhaust it) to end the threads."""
    if not threaded:
        for item in items:
            for step in steps:
                item = step(item)
            yield item
        return
    with Pipeline(items, steps) as results:
        yield from results
