"""Start MXNet parameter-server training on this machine: scheduler, servers and workers.

    python -m simplepose.launch -n 2 -s 1 -- python train_simple_pose.py --kvstore dist_sync ...

MXNet's distributed kvstore (ps-lite) runs three roles, chosen by environment
variables: one scheduler, ``-s`` servers (they hold and sum the gradients) and
``-n`` workers (they run the command). Every process gets

    DMLC_ROLE               scheduler | server | worker
    DMLC_PS_ROOT_URI        the scheduler's address (here 127.0.0.1: loopback only)
    DMLC_PS_ROOT_PORT       the scheduler's port (a free one unless --port)
    DMLC_NUM_SERVER, DMLC_NUM_WORKER
    DMLC_NODE_HOST          this node's address (127.0.0.1)

The scheduler and servers are ``python -c "import mxnet"``: importing MXNet with
that role runs the role's loop and exits when the workers are done. Workers learn
their rank from the kvstore (``kv.rank``).

The launcher waits for the workers and returns the first non-zero exit status of
a worker (0 when all succeed). When a worker fails, on ``--timeout``, or on Ctrl-C or
SIGTERM (passed to the workers as Ctrl-C first, so rank 0 can write its checkpoint), it stops
every process it started and returns 124 for a timeout, 130 for Ctrl-C, 143 for SIGTERM.
However it ends, every process it started (each in its own process group, DataLoader workers
included) has ended when it exits: the scheduler and servers too, which would wait for ever for a
worker that never joined the job. A worker command that cannot be found is refused before anything
starts. ``--print-env`` prints the environment of each role instead, for starting them by hand on
several machines.
"""
from __future__ import annotations

if __name__ == "__main__":   # python -m: the command, its imports below made inside commands.run_command (see there)
    from simplepose.commands import run_command
    raise SystemExit(run_command("simplepose.launch"))

import argparse
import logging
import os
import signal
import socket
import shutil
import subprocess
import sys
import time
from typing import Sequence

from simplepose.cli import command_parser
from simplepose.errors import SimplePoseError
from simplepose.flags import MAX_WORKERS, PORT, integer, real

log = logging.getLogger("simplepose.launch")

GRACE = 20.0     # seconds interrupted workers get to write their checkpoint and leave
SHUTDOWN = 2.0   # seconds the scheduler and servers get to leave after the last worker


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def role_env(role: str, host: str, port: int, num_workers: int, num_servers: int) -> dict[str, str]:
    return {"DMLC_ROLE": role, "DMLC_PS_ROOT_URI": host, "DMLC_PS_ROOT_PORT": str(port),
            "DMLC_NUM_SERVER": str(num_servers), "DMLC_NUM_WORKER": str(num_workers), "DMLC_NODE_HOST": host}


def _stop(procs: list[subprocess.Popen], sig: int) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass


def _wait_all(procs: list[subprocess.Popen], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(p.poll() is None for p in procs):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _end_all(procs: list[subprocess.Popen]) -> None:
    """Stop every process group of ``procs`` still running (SIGTERM, then SIGKILL) and reap them all."""
    _stop(procs, signal.SIGTERM)
    if not _wait_all(procs, 5):
        _stop(procs, signal.SIGKILL)
        _wait_all(procs, 5)


def _exit_status(code: int) -> int:
    """A child's ``returncode`` as a shell shows it: -N (killed by signal N) becomes 128 + N."""
    return 128 - code if code < 0 else code


class _Stopped(KeyboardInterrupt):
    """Ctrl-C or SIGTERM to the launcher; ``exit_status`` is 128 + the signal (130, 143)."""

    def __init__(self, signum: int):
        super().__init__()
        self.exit_status = 128 + signum


def _interrupt(signum, frame) -> None:
    raise _Stopped(signum)


def worker_program(command: Sequence[str]) -> str:
    """The executable of the worker command, found as the workers will find it (``PATH``); raises
    SimplePoseError when there is none, before anything is started."""
    program = shutil.which(command[0])
    if program is None:
        raise SimplePoseError(f"worker command {command[0]!r}: not found or not executable"
                              + ("" if os.sep in command[0] else " on PATH")
                              + "; give the program after --, e.g. -- python train_simple_pose.py ...")
    return program


def _watch(workers: list[subprocess.Popen], deadline: float | None, timeout: float | None) -> int:
    """Wait until every worker has succeeded (0), one has failed (its status) or ``deadline`` passed (124)."""
    while True:
        codes = [w.poll() for w in workers]
        failed = [c for c in codes if c not in (None, 0)]
        if failed:
            status = _exit_status(failed[0])
            log.error("a worker exited with status %d; stopping the others", status)
            return status
        if all(c == 0 for c in codes):
            return 0
        if deadline is not None and time.monotonic() > deadline:
            log.error("timed out after %.0f s; stopping all processes", timeout)
            return 124
        time.sleep(0.05)


def launch(command: Sequence[str], num_workers: int, num_servers: int, host: str = "127.0.0.1",
           port: int | None = None, timeout: float | None = None) -> int:
    """Run ``command`` as ``num_workers`` workers with a scheduler and ``num_servers`` servers; the exit
    status: 0 when every worker succeeded, else the first failing worker's (128 + N for a signal N),
    124 on ``timeout``, 130 on Ctrl-C, 143 on SIGTERM.

    Every process started (each in its own process group, so its children too) has ended when this
    returns, however it returns: a worker that never joined the job leaves the scheduler waiting for
    ever, so they are stopped rather than waited for.
    """
    worker_program(command)
    port = port or free_port(host)
    base = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Ctrl-C and SIGTERM (a cluster scheduler's stop) both end the job cleanly, even when this process
    # was started with SIGINT ignored (a background job of a non-interactive shell).
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    everyone: list[subprocess.Popen] = []
    workers: list[subprocess.Popen] = []

    def start(role: str, cmd: Sequence[str]) -> subprocess.Popen:
        try:   # own process group (session): stopped with its children
            proc = subprocess.Popen(cmd, env={**base, **role_env(role, host, port, num_workers, num_servers)},
                                    start_new_session=True)
        except OSError as exc:
            raise SimplePoseError(f"cannot start the {role} {cmd[0]!r}: {exc.strerror or exc}") from None
        everyone.append(proc)
        return proc

    try:
        helper = [sys.executable, "-c", "import mxnet"]
        others = [start("scheduler", helper)] + [start("server", helper) for _ in range(num_servers)]
        workers += [start("worker", command) for _ in range(num_workers)]
        log.info("scheduler %s:%d, %d server(s), %d worker(s): %s", host, port, num_servers, num_workers,
                 " ".join(command))
        status = _watch(workers, None if timeout is None else time.monotonic() + timeout, timeout)
        # After a job the servers and the scheduler leave with the last worker; they hold nothing the
        # workers still need, so those still there (workers that never joined) are stopped.
        if status == 0 and not _wait_all(others, SHUTDOWN):
            log.info("the scheduler and servers did not leave with the workers (workers that never joined the "
                     "job?): stopping them")
    except _Stopped as stop:
        log.warning("interrupted: passing Ctrl-C to the workers")
        _stop(workers, signal.SIGINT)   # rank 0 writes its checkpoint before it leaves
        _wait_all(workers, GRACE)
        status = stop.exit_status
    finally:
        # However this ends (a second Ctrl-C included): nothing it started outlives it.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        _end_all(everyone)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The launcher's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.launch", __doc__.split("\n\n")[0], prog)
    p.add_argument("-n", "--num-workers", type=integer(1, MAX_WORKERS), default=2, metavar="N", help="workers")
    p.add_argument("-s", "--num-servers", type=integer(1, MAX_WORKERS), default=1, metavar="N",
                   help="parameter servers")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR", help="address of the scheduler and of this node")
    p.add_argument("--port", type=PORT, default=None, metavar="N", help="scheduler port (default: a free one)")
    p.add_argument("--timeout", type=real(0, 10 ** 7, low_open=True), default=None, metavar="SEC",
                   help="stop everything after this many seconds (default: no limit)")
    p.add_argument("--print-env", action="store_true",
                   help="print each role's DMLC_* environment (for starting the roles by hand) and exit")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="the worker command with its arguments, after --")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.print_env:
        port = args.port or 9091
        for role in ("scheduler", "server", "worker"):
            env = role_env(role, args.host, port, args.num_workers, args.num_servers)
            del env["DMLC_NODE_HOST"]
            print(f"# {role}: " + " ".join(f"{k}={v}" for k, v in env.items()) +
                  " DMLC_NODE_HOST=<this machine's address> " +
                  ("python -c 'import mxnet'" if role != "worker" else " ".join(command) or "python train_simple_pose.py ..."))
        return 0
    if not command:
        p.error("give the worker command after --")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s launch %(levelname)s %(message)s")
    return launch(command, args.num_workers, args.num_servers, args.host, args.port, args.timeout)
