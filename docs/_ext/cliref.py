"""A Sphinx directive that documents a command from its argparse parser, so the reference cannot drift.

``.. cli-parser:: simplepose.export.command:build_parser`` with ``:prog: simplepose-export`` imports the module, calls
the function and renders the parser: its usage line, its description, then one ``option`` entry per action
(grouped as the parser groups them), with the help text exactly as ``--help`` expands it (defaults included).
The description is read as reStructuredText; help texts are shown as plain text.
The entries are Sphinx ``program``/``option`` objects, so ``:option:`simplepose-train --input-size``` links.
"""
from __future__ import annotations

import argparse
import importlib

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

RST_SPECIAL = "\\*`_|"


def rst_escape(text: str) -> str:
    """Plain text -> reStructuredText that renders as that text (no emphasis, links or substitutions)."""
    return "".join("\\" + c if c in RST_SPECIAL else c for c in text)


def load_parser(spec: str) -> argparse.ArgumentParser:
    """'package.module:function' -> the parser that function builds."""
    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(module), function)()


def action_signature(formatter: argparse.HelpFormatter, action: argparse.Action) -> str:
    """'-n N, --num-workers N' for an option; the metavar (e.g. 'RUN_DIR') for a positional argument."""
    if action.option_strings:
        return formatter._format_action_invocation(action)
    return action.metavar or action.dest.upper()


def parser_lines(parser: argparse.ArgumentParser, prog: str) -> list[str]:
    """The reStructuredText of one command: usage, description, then its options group by group."""
    parser.prog = prog
    formatter = parser._get_formatter()
    lines = [f".. program:: {prog}", "", ".. code-block:: text", ""]   # a usage line, not Python
    lines += ["   " + line for line in parser.format_usage().strip().splitlines()] + [""]
    if parser.description:  # reStructuredText, as the docstrings it comes from
        lines += parser.description.splitlines() + [""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS]
        if not actions:
            continue
        lines += [f".. rubric:: {rst_escape(group.title.capitalize())}", ""]
        for action in actions:
            lines += [f".. option:: {action_signature(formatter, action)}", ""]
            help_text = formatter._expand_help(action) if action.help else ""
            lines += ["   " + rst_escape(line) for line in help_text.splitlines()] + [""]
    if parser.epilog:
        lines += [rst_escape(line) for line in parser.epilog.splitlines()] + [""]
    return lines


class CliParserDirective(SphinxDirective):
    """``.. cli-parser:: module:function`` (``:prog: NAME``): the parser's usage and every option."""

    required_arguments = 1
    option_spec = {"prog": directives.unchanged_required}

    def run(self) -> list[nodes.Node]:
        parser = load_parser(self.arguments[0])
        prog = self.options.get("prog", parser.prog)
        container = nodes.container(classes=["cli-parser"])
        content = StringList(parser_lines(parser, prog), source=f"<{self.arguments[0]}>")
        nested_parse_with_titles(self.state, content, container)
        return [container]


def setup(app):
    app.add_directive("cli-parser", CliParserDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
