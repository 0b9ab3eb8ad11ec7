"""Train, stopping this process at one file operation of the run directory: a deterministic instant.

    python tests/kill_at.py KIND WHEN ACTION TRACE -- TRAIN_ARGS...

runs ``train_simple_pose.py TRAIN_ARGS`` and, at the first rename onto (or removal of) a file of
KIND (see :func:`kind`), 'before' or 'after' that call (WHEN), appends the file to TRACE and then
ACTION: 'kill' (SIGKILL), 'int2' (two SIGINTs: Ctrl-C, then a second Ctrl-C right there) or 'term2'
(two SIGTERMs). A process that never meets KIND trains to the end.
"""
import os
import re
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KINDS = ("config", "metrics", "superseded", "leftover", "best-params", "best-states", "best-manifest",
         "old-best-params", "old-best-states", "ckpt-params", "ckpt-states", "ckpt-manifest")


def kind(op: str, path: str) -> str | None:
    """The KIND of an ``os.replace`` onto ``path`` or an ``os.unlink`` of it, or None."""
    p = Path(path)
    if op == "unlink":
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code.co_name == "_remove_leftovers":
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


def main() -> int:
    target, when, action, trace = sys.argv[1:5]
    assert target in KINDS and when in ("before", "after") and action in ("kill", "int2", "term2"), sys.argv[1:5]
    args = sys.argv[sys.argv.index("--") + 1:]
    real = {"replace": os.replace, "unlink": os.unlink}
    state = {"done": False}

    def act(path: str) -> None:
        with open(trace, "a") as f:
            f.write(f"{target} {when} {action} {path}\n")
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        sig = signal.SIGINT if action == "int2" else signal.SIGTERM
        os.kill(os.getpid(), sig)   # the loop's handler asks for a stop at the next batch boundary ...
        os.kill(os.getpid(), sig)   # ... and the second signal stops right here

    def hooked(op: str):
        def call(*a, **kw):
            path = str(a[1] if op == "replace" else a[0])
            hit = not state["done"] and kind(op, path) == target
            state["done"] = state["done"] or hit
            if hit and when == "before":
                act(path)
            result = real[op](*a, **kw)
            if hit and when == "after":
                act(path)
            return result
        return call

    os.replace, os.unlink = hooked("replace"), hooked("unlink")
    import train_simple_pose
    from simplepose.cli import run_main
    return run_main(lambda: train_simple_pose.main(args))


if __name__ == "__main__":
    sys.exit(main())
