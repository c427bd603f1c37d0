"""
How ``sb3-reinforce-zoo`` hands arguments to the Zoo's scripts, which read ``sys.argv``: the command's name, a parser
that reads a few options and leaves the rest to the Zoo, and the calls that run a Zoo entry point or script module.
"""

import argparse
import runpy
import sys
from collections.abc import Callable

#: The name of the command (shown in messages and in the Zoo's usage lines)
PROG = "sb3-reinforce-zoo"


class PreParseError(Exception):
    """The arguments could not be pre-parsed: leave them to the Zoo, which reports the error."""


class PreParser(argparse.ArgumentParser):
    """A parser that reads a few options and leaves the others (and every error) to the Zoo's parser."""

    def error(self, message: str):  # type: ignore[override]
        raise PreParseError(message)


def call_with_argv(function: Callable[[], object], script: str, args: list[str]) -> None:
    """
    Call a Zoo entry point, which parses ``sys.argv``, with the given arguments.

    :param function: the entry point
    :param script: its name (shown in its usage messages)
    :param args: its arguments
    """
    saved_argv = sys.argv
    sys.argv = [f"{PROG} {script}", *args]
    try:
        function()
    finally:
        sys.argv = saved_argv


def run_module_with_argv(module: str, script: str, args: list[str]) -> None:
    """
    Run a Zoo module that is a script only (its code runs under ``if __name__ == "__main__"``), as ``python -m`` would.

    :param module: the module, e.g. ``"rl_zoo3.record_video"``
    :param script: its name (shown in its usage messages)
    :param args: its arguments
    """
    call_with_argv(lambda: runpy.run_module(module, run_name="__main__"), script, args)
