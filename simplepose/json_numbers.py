"""The numbers and nesting of a JSON text that simplepose refuses, and where in the text they are.

Python's ``json`` reads any integer (2**70, a 400-digit id) and turns a number beyond double range
(``1e400``, a 400-digit fraction) into ``inf`` without a word; an integer of more than 4,300 digits
raises a ``ValueError`` of Python's own, and a deeply nested text a ``RecursionError``. Ids end up in
int64 arrays and coordinates in floats, so :func:`simplepose.io.read_json` reads numbers through
:func:`parse_int` and :func:`parse_float`, which refuse, before any work:

- integers outside the int64 range [-2**63, 2**63 - 1];
- numbers beyond the range of a double (about 1.8e308 either way), which would read as infinity.

``NaN``, ``Infinity`` and ``-Infinity`` literals (which Python's own ``json.dumps`` writes) are kept:
they are values the writer meant, and the field accessors (``JsonRecord.number``) refuse them where a
finite number is needed, or fix them where a fix is certain (a NaN ``area``, ``data.quirks``).

When a text is refused, :func:`locate` finds the place for the message: line, column and the path
of the value (``annotations[3].id``), by a scan of the text that runs only then.
"""
from __future__ import annotations

import json
import math
import re
from typing import Callable

INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1
# Nesting beyond this is reported as "nested more than MAX_DEPTH levels deep" (a COCO file needs 5 levels;
# Python's parser gives up near its recursion limit, 1000 by default).
MAX_DEPTH = 100
_INT64_DIGITS = 19
_SHOWN_DIGITS = 24   # a longer number is shown by its first and last digits and its length

# Strings, numbers and structural characters of a JSON text (whitespace and true/false/null/NaN/Infinity
# are skipped over, as they carry no position the scan needs).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|[][{}:,]')


class BadNumber(ValueError):
    """A number :func:`number_problem` refuses: ``token`` as written, ``problem`` what is wrong with it."""

    def __init__(self, token: str, problem: str):
        super().__init__(f"{token}: {problem}")
        self.token, self.problem = token, problem


def number_problem(token: str) -> str | None:
    """Why the JSON number ``token`` cannot be read (outside int64, beyond double range), or None."""
    if token[-1:].isdigit() and not any(c in token for c in ".eE"):
        digits = len(token.lstrip("-"))
        # A digit count alone decides a long run: Python refuses int() of more than 4,300 digits.
        if digits > _INT64_DIGITS or not INT64_MIN <= int(token) <= INT64_MAX:
            return "is outside the 64-bit integer range (-2**63 to 2**63 - 1)"
        return None
    if math.isinf(float(token)):
        return "is beyond the range of a double (about 1.8e308), so it would read as infinity"
    return None


def parse_int(token: str) -> int:
    """``json.loads``' ``parse_int``: the integer of ``token``; raises BadNumber outside int64."""
    if len(token) <= _INT64_DIGITS - 1:   # the usual case: within int64 whatever its digits
        return int(token)
    problem = number_problem(token)
    if problem:
        raise BadNumber(token, problem)
    return int(token)


def parse_float(token: str) -> float:
    """``json.loads``' ``parse_float``: the float of ``token``; raises BadNumber beyond double range."""
    value = float(token)
    if value - value != 0:   # inf (NaN is never parsed here: it is a literal, not a number)
        raise BadNumber(token, number_problem(token) or "is not finite")
    return value


def shown(token: str) -> str:
    """``token``, or for a long one its first and last digits and its length (``99999...99999 (5000 digits)``)."""
    if len(token) <= _SHOWN_DIGITS:
        return token
    return f"{token[:10]}...{token[-10:]} ({len(token)} characters)"


def locate(text: str | bytes, stop: Callable[[str, int], bool]) -> tuple[str, str] | None:
    """Where the first token of ``text`` for which ``stop(token, depth)`` holds lies: ("line L, column C",
    the path of the value, e.g. ``annotations[3].id``, "" at the top level); None when no token does.
    ``depth`` is the number of arrays and objects open around the token (itself included when it opens one).
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode(json.detect_encoding(text), "replace")
    stack: list[list] = []   # [kind "{" or "[", key or index, expecting a key]
    for match in _TOKEN.finditer(text):
        token, top = match.group(), stack[-1] if stack else None
        if token in ("{", "["):
            stack.append([token, None if token == "{" else 0, token == "{"])
        elif token in ("}", "]"):
            if stack:
                stack.pop()
        elif token == ",":
            if top and top[0] == "[":
                top[1] += 1
            elif top:
                top[2] = True
        elif token == ":":
            if top:
                top[2] = False
        elif token.startswith('"'):
            if top and top[0] == "{" and top[2]:
                top[1] = _key(token)
            continue
        if token not in ("}", "]", ",", ":") and stop(token, len(stack)):
            pos = match.start()
            line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
            return f"line {line}, column {column}", _path(stack[:-1] if token in ("{", "[") else stack)
    return None


def _key(token: str) -> str:
    try:
        return json.loads(token)
    except ValueError:
        return token[1:-1]


def _path(stack: list[list]) -> str:
    """``annotations[3].id`` of a scan stack; long paths are cut in the middle."""
    parts = []
    for kind, key, _ in stack:
        if kind == "[":
            parts.append(f"[{key}]")
        elif key is not None:
            parts.append(f".{key}" if key.isidentifier() else f"[{json.dumps(key)}]")
    path = "".join(parts).lstrip(".")
    return path if len(path) <= 120 else f"{path[:50]}...{path[-50:]}"
