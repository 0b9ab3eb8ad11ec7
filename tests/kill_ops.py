"""Run a function in a forked process that SIGKILLs itself at its Nth file operation: a deterministic instant.

    ops, killed = run_killed_at(n, work, trace_file)

forks; the child counts its calls of ``os.replace``, ``os.rename``, ``os.unlink``, ``os.remove``, ``os.rmdir``,
``shutil.rmtree`` (and of any ``extra`` method, e.g. a video writer's per-frame ``write``), appends each to
``trace_file`` as ``KIND PATH`` just before making it, and at call ``n`` (1-based) sends itself SIGKILL
instead; ``n = 0`` never kills, which lists every operation of ``work()``. The parent returns the list of
(kind, path) the child met (the one it was killed at last) and whether it was killed.

As ``tests/kill_at.py`` does for training, but forked from the test process (which has imported MXNet and
loaded the models already), so that a kill costs the operation's own work and not a Python start.
"""
import os
import shutil
import signal
import traceback
from pathlib import Path
from typing import Callable

FILE_OPS = {"replace": os, "rename": os, "unlink": os, "remove": os, "rmdir": os, "rmtree": shutil}


def run_killed_at(n: int, work: Callable[[], object], trace_file: Path,
                  extra: tuple[tuple[object, str], ...] = ()) -> tuple[list[tuple[str, str]], bool]:
    """(operations met, killed) of ``work()`` run in a child killed at its ``n``-th counted call."""
    trace_file.write_text("")
    pid = os.fork()
    if pid == 0:   # the child: never returns into the test process
        status = 0
        try:
            _hook(n, trace_file, [(owner, name) for name, owner in FILE_OPS.items()] + list(extra))
            work()
        except BaseException:   # noqa: BLE001  (reported to the parent through the trace)
            with open(trace_file, "a") as f:
                f.write("error " + traceback.format_exc().replace("\n", " | ") + "\n")
            status = 1
        os._exit(status)
    _, status = os.waitpid(pid, 0)
    lines = [line.split(" ", 1) for line in trace_file.read_text().splitlines()]
    errors = [line for line in lines if line[0] == "error"]
    assert not errors, errors[0][1]
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert killed or os.WEXITSTATUS(status) == 0, status
    return [(kind, path) for kind, path in lines], killed


def _hook(n: int, trace_file: Path, targets: list[tuple[object, str]]) -> None:
    count = [0]

    def counted(kind: str, real: Callable) -> Callable:
        def call(*args, **kwargs):
            count[0] += 1
            path = args[1] if kind in ("replace", "rename") else args[0] if kind in FILE_OPS else ""
            with open(trace_file, "a") as f:
                f.write(f"{kind} {path}\n")
            if count[0] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call

    for owner, name in targets:
        setattr(owner, name, counted(name, getattr(owner, name)))
