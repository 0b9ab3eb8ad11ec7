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
every process it started (each in its own process group, DataLoader workers
included) and returns 124 for a timeout, 130 for Ctrl-C. ``--print-env`` prints the
environment of each role instead, for starting them by hand on several machines.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Sequence

from .cli import command_parser

log = logging.getLogger("simplepose.launch")

GRACE = 20.0   # seconds the servers, scheduler or interrupted workers get to finish on their own


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
        time.sleep(0.1)
    return True


def launch(command: Sequence[str], num_workers: int, num_servers: int, host: str = "127.0.0.1",
           port: int | None = None, timeout: float | None = None) -> int:
    """Run ``command`` as ``num_workers`` workers with a scheduler and ``num_servers`` servers; the exit status."""
    port = port or free_port(host)
    base = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Ctrl-C and SIGTERM (a cluster scheduler's stop) both end the job cleanly, even when this process
    # was started with SIGINT ignored (a background job of a non-interactive shell).
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    start = lambda role, cmd: subprocess.Popen(  # noqa: E731  own process group: stop it with its children
        cmd, env={**base, **role_env(role, host, port, num_workers, num_servers)}, start_new_session=True)
    helper = [sys.executable, "-c", "import mxnet"]
    others = [start("scheduler", helper)] + [start("server", helper) for _ in range(num_servers)]
    workers = [start("worker", list(command)) for _ in range(num_workers)]
    everyone = others + workers
    log.info("scheduler %s:%d, %d server(s), %d worker(s): %s", host, port, num_servers, num_workers,
             " ".join(command))
    deadline = None if timeout is None else time.monotonic() + timeout
    status = 0
    try:
        while True:
            codes = [w.poll() for w in workers]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                status = failed[0]
                log.error("a worker exited with status %d; stopping the others", status)
                break
            if all(c == 0 for c in codes):
                # The servers and the scheduler leave once every worker has said goodbye.
                if not _wait_all(others, GRACE):
                    log.warning("servers/scheduler still running %.0f s after the workers finished", GRACE)
                return 0
            if deadline is not None and time.monotonic() > deadline:
                log.error("timed out after %.0f s; stopping all processes", timeout)
                status = 124
                break
            time.sleep(0.1)
    except KeyboardInterrupt:
        log.warning("interrupted: passing Ctrl-C to the workers")
        _stop(workers, signal.SIGINT)
        _wait_all(workers, GRACE)
        status = 130
    finally:
        if status:
            _stop(everyone, signal.SIGTERM)
            if not _wait_all(everyone, 5):
                _stop(everyone, signal.SIGKILL)
                _wait_all(everyone, 5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The launcher's flags; ``prog``: the name its usage line shows (see ``cli.command_parser``)."""
    p = command_parser("simplepose.launch", __doc__.split("\n\n")[0], prog)
    p.add_argument("-n", "--num-workers", type=int, default=2, metavar="N", help="workers")
    p.add_argument("-s", "--num-servers", type=int, default=1, metavar="N", help="parameter servers")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR", help="address of the scheduler and of this node")
    p.add_argument("--port", type=int, default=None, metavar="N", help="scheduler port (default: a free one)")
    p.add_argument("--timeout", type=float, default=None, metavar="SEC",
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
    if args.num_workers < 1 or args.num_servers < 1:
        p.error("need at least one worker and one server")
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


if __name__ == "__main__":
    sys.exit(main())
