"""Reading a JSON file the user named, with one-line errors that name the file."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import MissingFileError, SimplePoseError


def read_json(path: str | os.PathLike, what: str) -> Any:
    """The parsed content of ``path``; ``what`` names the file in errors ("detection file", ...)."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SimplePoseError(f"{path}: {what} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg})") from None
    except UnicodeDecodeError:
        raise SimplePoseError(f"{path}: {what} is not a text JSON file") from None
