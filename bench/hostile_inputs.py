#!/usr/bin/env python
"""Issue 18's hostile inputs, re-run: every case under its "Why", through the real command lines, one row each.

Each case runs what a user would run: ``python -m simplepose.X`` (or its console script) of the checkout this
script lives in, as a subprocess in its own session with a time limit, on fixtures made in a temporary folder
that is removed at the end: a synthetic dataset (6 train, 4 val images), a ResNet-18 trained 1 epoch at 64x64
(``-j 0``), its export, an 8-frame video. A row: the case, the exit status, the expected outcome, the command's
last stderr line, PASS or FAIL (what failed, below it). Expected, from the issue's "What to build":

- ``2, one line``: exit status 2, exactly one ``error:`` line on stderr and it is the last, no ``Traceback``;
  where the case says, the line names the file or flag and says what is wrong (``nested``, ``FIFO``,
  ``--max-image-pixels``, ``--allow-outside-root``, control characters escaped);
- ``0, counted warning``: exit status 0, no ``error:`` line, a WARNING naming the file and a count, and a
  correct result (each image's own boxes, no dropped box's "person", keypoints inside the image);
- ``130, interrupted``: a SIGINT sent to the command's process group 0.05-0.3 s after it started (as Ctrl-C
  in a terminal), answered by exit status 130 and the one line ``error: interrupted`` at any instant;
- and where the case is about them: a user's files byte for byte (SHA-256 before and after), a failed start
  leaving its --save-dir exactly as it was, a hostile ``.states`` never run (its marker file absent), a killed
  export still loading and the next one removing only marked leftovers.

Every command is checked for what no command may do: a ``Traceback``, a doubled prefix (``config: config:``) in
any line it prints, a process left running (each command carries a tag in its environment, looked for in
/proc after it ends), a temporary file left (its ``TMPDIR`` must be empty after it, and no new
``.simplepose-tmp-*`` or ``*.tmp`` appears beside its outputs; kills on purpose excepted). Exit status 0 only
when every case is as expected. Takes about 2 minutes with ``--jobs 2`` on 2 cores (117-135 s at main, 64 cases,
on an idle machine, the fixtures 12-20 s of it; several times that on a loaded one), a little less once the fixes
refuse, before any training, the inputs main still trains on.

Beside this entry (arguments, the table, the summary), in this folder: ``hostile_harness.py`` runs a command
and judges it (``Trial``, ``Ran``, ``Row``; ``one_line``, ``succeeded``, ``unchanged``; the fixtures; the
self-killing process ``KILLER``); ``hostile_cases_files.py`` holds the case groups about files (run directories,
``.states``, JSON, images, a checkpoint's config, exports and killed exports or predictions) and
``hostile_cases_commands.py`` those about commands (flags, launch, predict's video and boxes, Ctrl-C). A case
group is a function ``(Trial, Fixtures) -> None``; ``GROUPS`` below lists them in the table's order.

    .venv/bin/python bench/hostile_inputs.py                     # every case
    .venv/bin/python bench/hostile_inputs.py -k json -k launch   # the cases whose name contains one of these
"""
from __future__ import annotations

import argparse
import concurrent.futures
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

import hostile_cases_commands as commands
import hostile_cases_files as files
from hostile_harness import ROOT, Fixtures, Row, Trial, build_fixtures

# The case groups, in the table's order (each a function (Trial, Fixtures) -> None adding its rows).
GROUPS: list[Callable[[Trial, Fixtures], None]] = [
    files.save_dir_starts, files.init_from_own_file, files.hostile_states, files.json_numbers, commands.flags,
    commands.launch_pipe, commands.predict_boxes, commands.two_cameras, files.image_files, files.stored_config,
    files.export_kills, files.predict_kill, files.moved_export, commands.interrupts]
# The groups that take longest (several trainings or exports): started first.
FIRST = (files.save_dir_starts, files.init_from_own_file, files.export_kills)


# ---- the table -------------------------------------------------------------------------------------------

def run_group(fn: Callable[[Trial, Fixtures], None], work: Path, fx: Fixtures) -> list[Row]:
    trial = Trial(work, fn.__name__)
    try:
        fn(trial, fx)
    except Exception as exc:   # noqa: BLE001  (a fixture step of this script failed: that group's rows fail)
        trial.rows.append(Row(fn.__name__, "(setup)", problems=[f"{type(exc).__name__}: {exc}"]))
    finally:
        trial.reap([])
    return trial.rows


def table(rows: Iterator[list[Row]]) -> tuple[int, int]:
    passed = total = 0
    print(f"{'case':<62} {'exit':>4}  {'expected':<30} {'':4}  last stderr line")
    for group_rows in rows:
        for row in group_rows:
            total += 1
            passed += not row.problems
            last = row.last if len(row.last) <= 110 else row.last[:107] + "..."
            print(f"{row.name[:62]:<62} {str(row.status):>4}  {row.expected:<30} "
                  f"{'PASS' if not row.problems else 'FAIL':4}  {last}")
            for problem in row.problems:
                print(f"{'':>68}- {problem}")
        sys.stdout.flush()
    return passed, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[], metavar="TEXT",
                        help="only the case groups whose name contains TEXT (repeatable): " +
                        ", ".join(fn.__name__ for fn in GROUPS))
    parser.add_argument("--jobs", type=int, default=2, help="case groups run at once (default: 2)")
    args = parser.parse_args(argv)
    chosen = [fn for fn in GROUPS if not args.k or any(k in fn.__name__ for k in args.k)]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hostile-inputs-") as tmp:
        work = Path(tmp)
        print(f"checkout: {ROOT} (git {git_head()}); fixtures in {work}", flush=True)
        fx = build_fixtures(work)
        print(f"fixtures ready in {time.monotonic() - started:.0f} s", flush=True)
        order = sorted(chosen, key=lambda fn: fn not in FIRST)
        with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = {fn: pool.submit(run_group, fn, work, fx) for fn in order}
            passed, total = table(futures[fn].result() for fn in chosen)
    print(f"\n{passed}/{total} cases as expected in {time.monotonic() - started:.0f} s")
    print("rerun: .venv/bin/python bench/hostile_inputs.py" + "".join(f" -k {k}" for k in args.k))
    return 0 if passed == total else 1


def git_head() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
