"""``python -m simplepose.predict``: the predict command (``predict.command``), started where a Ctrl-C is one line."""
from simplepose.commands import run_command

if __name__ == "__main__":
    raise SystemExit(run_command("simplepose.predict.command"))
