"""Train, stopping this process at one event of the run: a deterministic instant, whatever the machine's speed.

    python tests/kill_at.py KIND WHEN ACTION TRACE -- TRAIN_ARGS...

runs ``train_simple_pose.py TRAIN_ARGS`` and, 'before' or 'after' (WHEN) the first event of KIND this
process meets, appends a line to TRACE and then does ACTION. The kinds of event:

- a file operation of the run directory: the rename onto (or the removal of) a file of one of
  FILE_KINDS (see :func:`file_kind`);
- ``batchN``: the Nth training batch this process runs; ``epochE-batchB``: batch B (from 1) of epoch E.
  'before': as its forward pass starts (a batch boundary); 'after': its gradients computed, its update
  not made (inside the batch);
- ``loader``: the first training sample the data loader makes ('after': made, no batch yet). The
  sample must be made in this process: ``-j 0``;
- ``validation``: the first validation batch's forward pass ('after': in the middle of a validation);
- ``tensorboard``: the first picture written to TensorBoard ('after': inside that write, the event
  file not flushed).

ACTION: 'kill' (SIGKILL), 'int2' (two SIGINTs: Ctrl-C, then a second Ctrl-C right there), 'term2' (two
SIGTERMs), or 'pause': wait right there, for as long as it takes, until a signal reaches the training
loop's handler (the test sends it from outside, as a user or a cluster scheduler would), then go on.
A process that never meets KIND trains to the end.
"""
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FILE_KINDS = ("config", "metrics", "superseded", "leftover", "best-params", "best-states", "best-manifest",
              "old-best-params", "old-best-states", "ckpt-params", "ckpt-states", "ckpt-manifest")
RUN_KINDS = re.compile(r"batch\d+|epoch\d+-batch\d+|loader|validation|tensorboard")
ACTIONS = ("kill", "int2", "term2", "pause")


def file_kind(op: str, path: str) -> str | None:
    """The KIND of an ``os.replace`` onto ``path`` or an ``os.unlink`` of it, or None."""
    p = Path(path)
    if op == "unlink":
        frame = sys._getframe(1)
        while frame is not None:   # the run directory's start-up clean-up (rundir, io: *remove_leftovers)
            if "leftovers" in frame.f_code.co_name:
                return "leftover"
            frame = frame.f_back
        found = re.fullmatch(r"best-epoch\d{4}(?:-1)?\.(params|states)", p.name)
        return f"old-best-{found.group(1)}" if found else None
    if p.parent.parent.name == "superseded":
        return "superseded"
    if p.name in ("config.json", "metrics.jsonl"):
        return p.stem
    if p.name == "best.json":
        return "best-manifest"
    found = re.fullmatch(r"(.+)-epoch\d{4}.*\.(params|states|json)", p.name)
    if found:
        return ("best" if found.group(1) == "best" else "ckpt") + "-" + found.group(2).replace("json", "manifest")
    return None


class Stop:
    """Acts once, at the first event named ``target``."""

    def __init__(self, target: str, when: str, action: str, trace: str):
        self.target, self.when, self.action, self.trace = target, when, action, trace
        self.done = False
        self.signalled = False   # a signal reached the training loop's handler (see 'pause')
        self.batches = 0         # training batches this process has started

    def hook(self, owner, name: str, names: Callable[..., tuple[str, ...]], describe: Callable[..., str]) -> None:
        """Replace ``owner.name`` by a call that acts before or after itself when ``names(*args)`` holds
        the target; ``describe(*args)`` is what the trace line names."""
        real = getattr(owner, name)

        def call(*args, **kw):
            hit = not self.done and self.target in names(*args)
            self.done = self.done or hit
            if hit and self.when == "before":
                self.act(describe(*args))
            result = real(*args, **kw)
            if hit and self.when == "after":
                self.act(describe(*args))
            return result
        setattr(owner, name, call)

    def act(self, what: str) -> None:
        with open(self.trace, "a") as f:
            f.write(f"{self.target} {self.when} {self.action} {what}\n")
        if self.action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.action == "pause":
            while not self.signalled:   # no deadline: the test's signal ends the wait
                time.sleep(0.01)
        else:
            sig = signal.SIGINT if self.action == "int2" else signal.SIGTERM
            os.kill(os.getpid(), sig)   # the loop's handler asks for a stop at the next batch boundary ...
            os.kill(os.getpid(), sig)   # ... and the second signal stops right here

    def batch_names(self, loop, *args) -> tuple[str, ...]:
        self.batches += 1
        p = loop.state.progress
        return f"batch{self.batches}", f"epoch{p.epoch}-batch{p.batches + 1}"

    def install(self) -> None:
        """The hooks of every kind of event, and the note that a signal reached the loop's handler."""
        import tensorboardX
        from simplepose.data.guard import GuardedSamples
        from simplepose.training import validation
        from simplepose.training.guards import DeferredInterrupt
        from simplepose.training.loop import EpochLoop

        for op in ("replace", "unlink"):
            self.hook(os, op, lambda *a, op=op: (file_kind(op, str(a[1] if op == "replace" else a[0])),),
                      lambda *a, op=op: str(a[1] if op == "replace" else a[0]))
        self.hook(EpochLoop, "forward_backward", self.batch_names,
                  lambda loop, *a: f"epoch {loop.state.progress.epoch} batch {loop.state.progress.batches + 1}")
        main = os.getpid()
        self.hook(GuardedSamples, "__getitem__", lambda *a: ("loader",) if os.getpid() == main else (),
                  lambda samples, key: f"sample {key}")
        self.hook(validation, "net_heatmaps", lambda *a: ("validation",), lambda *a: "validation batch 1")
        self.hook(tensorboardX.SummaryWriter, "add_image", lambda *a, **kw: ("tensorboard",),
                  lambda writer, tag, *a, **kw: f"picture {tag}")
        handle = DeferredInterrupt._handle

        def noted(interrupt, signum, frame):
            self.signalled = True
            return handle(interrupt, signum, frame)
        DeferredInterrupt._handle = noted


def main() -> int:
    target, when, action, trace = sys.argv[1:5]
    assert target in FILE_KINDS or RUN_KINDS.fullmatch(target), target
    assert when in ("before", "after") and action in ACTIONS, sys.argv[1:5]
    args = sys.argv[sys.argv.index("--") + 1:]
    Stop(target, when, action, trace).install()
    import train_simple_pose
    from simplepose.cli import run_main
    return run_main(lambda: train_simple_pose.main(args))


if __name__ == "__main__":
    sys.exit(main())
