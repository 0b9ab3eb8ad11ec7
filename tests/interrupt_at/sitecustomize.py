"""A Ctrl-C at a chosen instant, for the tests of ``commands.run_command``: with this directory on PYTHONPATH,
Python imports this file at start-up, and when the module named by ``SIMPLEPOSE_SIGINT_AT`` (``numpy``,
``socket``...) is first imported, the process sends itself SIGINT. Python raises KeyboardInterrupt at the
next bytecode, inside that import: exactly what a Ctrl-C while the command loads does, without a timed
sleep."""
import os
import signal
import sys


class _SigintOnImport:
    """A ``sys.meta_path`` finder that finds nothing: it only notices the first import of ``name``."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, name, path=None, target=None):
        if name == self.name:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None


if os.environ.get("SIMPLEPOSE_SIGINT_AT"):
    # A process started in the background of a non-interactive shell inherits SIGINT ignored, and Python then
    # installs no handler: the Ctrl-C a user gives a foreground command is Python's default handler.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.meta_path.insert(0, _SigintOnImport(os.environ["SIMPLEPOSE_SIGINT_AT"]))
