"""
``sb3-reinforce-zoo`` (or ``python -m sb3_reinforce.zoo``): the RL Zoo's command line, with ``--algo reinforce``.

It is a superset of ``rl_zoo3``'s CLI: ``sb3-reinforce-zoo SCRIPT [ARGS...]`` registers REINFORCE
(:func:`sb3_reinforce.zoo.register`), then runs the Zoo's own script with the same arguments, so every
``--algo`` the Zoo knows keeps working. On top of the Zoo:

- ``train --algo reinforce`` without ``-conf/--conf-file`` reads the hyperparameters shipped with this
  package (``sb3_reinforce/hyperparams/reinforce.yml``);
- ``train --storage postgresql://...`` works with psycopg2 as well as psycopg 3 (see :func:`storage_url`);
- ``record_video`` is available as a subcommand (the Zoo only has it as ``python -m rl_zoo3.record_video``);
- the plot scripts accept ``--savefig FILE``: the figures are written to FILE instead of being shown
  (with several figures, FILE's name gets a suffix per figure), which works without a display;
- ``all_plots -o plots/results`` creates the folder ``plots``, and ``all_plots`` stops with an error naming each
  algorithm and env that has no evaluations in the folders given (the Zoo's table would show ``0.0 +/- 0.0``);
- ``plot_from_file`` stops with an error naming each algorithm that has a single run in every env of the results
  (where the Zoo fails with ``ValueError: min() arg is an empty sequence``).
"""

import argparse
import contextlib
import importlib.util
import runpy
import sys
from collections.abc import Callable, Iterator
from importlib import resources

from sb3_reinforce.zoo import ALGO_NAME, hyperparams_file, register

PROG = "sb3-reinforce-zoo"

#: The subcommands and what they do
SCRIPTS: dict[str, str] = {
    "train": "train an agent, or tune its hyperparameters (-optimize)",
    "enjoy": "run a trained agent",
    "record_video": "record a video of a trained agent",
    "plot_train": "plot the training curves of a run (monitor files)",
    "all_plots": "plot and tabulate the evaluations of several runs",
    "plot_from_file": "plot the results saved by all_plots -o",
}

PLOT_SCRIPTS = ("plot_train", "all_plots", "plot_from_file")


class _PreParseError(Exception):
    """The arguments could not be pre-parsed: leave them to the Zoo, which reports the error."""


class _PreParser(argparse.ArgumentParser):
    """A parser that reads a few options and leaves the others (and every error) to the Zoo's parser."""

    def error(self, message: str):  # type: ignore[override]
        raise _PreParseError(message)


def usage() -> str:
    """
    :return: the help text of the command
    """
    lines = [
        f"usage: {PROG} SCRIPT [ARGS...]",
        "",
        "The RL Zoo's scripts, with REINFORCE registered as --algo reinforce.",
        f"Run `{PROG} SCRIPT --help` for the arguments of a script.",
        "",
        "scripts:",
    ]
    lines += [f"  {name:<15} {description}" for name, description in SCRIPTS.items()]
    lines += [
        "",
        "train --algo reinforce uses the hyperparameters shipped with sb3-reinforce unless -conf/--conf-file is given.",
        "plot_train, all_plots and plot_from_file also accept --savefig FILE (write the figures instead of showing them).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """
    Run a Zoo script: ``main(["train", "--algo", "reinforce", "--env", "CartPole-v1"])``.

    :param argv: the subcommand and its arguments (default: ``sys.argv[1:]``)
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if args else 2)
    script, script_args = args[0], args[1:]
    if script not in SCRIPTS:
        print(f"{PROG}: unknown script {script!r}, expected one of: {', '.join(SCRIPTS)}", file=sys.stderr)
        sys.exit(2)
    register()
    run_script(script, script_args)


def run_script(script: str, args: list[str]) -> None:
    """
    Run one of the Zoo's scripts (REINFORCE must be registered first, see :func:`sb3_reinforce.zoo.register`).

    :param script: one of :data:`SCRIPTS`
    :param args: its command line arguments
    """
    if script == "train":
        from rl_zoo3.train import train

        with _train_args(args) as train_args:
            _call_with_argv(train, script, train_args)
    elif script == "enjoy":
        from rl_zoo3.enjoy import enjoy

        _call_with_argv(enjoy, script, args)
    elif script == "record_video":
        # rl_zoo3 limitation: record_video is a script only (its code runs under `if __name__ == "__main__"`)
        _call_with_argv(lambda: runpy.run_module("rl_zoo3.record_video", run_name="__main__"), script, args)
    elif script in PLOT_SCRIPTS:
        from sb3_reinforce.zoo.plots import run_plot

        run_plot(script, args)
    else:
        raise ValueError(f"Unknown script {script!r}, expected one of {list(SCRIPTS)}")


def _call_with_argv(function: Callable[[], object], script: str, args: list[str]) -> None:
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


def storage_url(storage: str) -> str:
    """
    The SQLAlchemy URL to use for an Optuna storage given as ``postgresql://...``.

    Works around a limitation of SQLAlchemy, which the Zoo passes ``--storage`` to:
    SQLAlchemy >= 2.1 reads ``postgresql://`` as ``postgresql+psycopg://`` (psycopg 3). When only psycopg2 is
    installed (``psycopg2-binary``, in the ``zoo`` extra), this returns ``postgresql+psycopg2://...``; any other
    storage (an explicit driver, SQLite, a journal ``.log`` file, ...) is returned unchanged.

    :param storage: the value of ``--storage``
    :return: the storage URL to pass to Optuna
    """
    scheme, separator, rest = storage.partition("://")
    if not separator or scheme not in ("postgresql", "postgres"):
        return storage
    if importlib.util.find_spec("psycopg") is not None or importlib.util.find_spec("psycopg2") is None:
        return storage
    return f"postgresql+psycopg2://{rest}"


@contextlib.contextmanager
def _train_args(args: list[str]) -> Iterator[list[str]]:
    """
    The arguments to pass to the Zoo's ``train``:

    - for ``--algo reinforce`` without ``-conf/--conf-file``, add ``--conf-file`` with the packaged hyperparameters;
    - for ``--storage postgresql://...``, select the installed PostgreSQL driver (see :func:`storage_url`).

    rl_zoo3 limitation: without ``-conf``, the Zoo reads ``hyperparams/<algo>.yml`` inside its own package.

    The options are read the way the Zoo's parser reads them (abbreviations, ``--opt=value``); a later
    occurrence of an option overrides an earlier one, so the additions go at the end.

    :param args: the arguments of ``train``
    :return: a context manager giving the arguments to pass to the Zoo
    """
    parser = _PreParser(add_help=False)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("-conf", "--conf-file", default=None)
    parser.add_argument("--storage", default=None)
    try:
        known, _ = parser.parse_known_args(args)
    except _PreParseError:
        # Left to the Zoo's parser, which reports the error
        yield args
        return
    args = list(args)
    if known.storage is not None and storage_url(known.storage) != known.storage:
        args += ["--storage", storage_url(known.storage)]
    if known.algo != ALGO_NAME or known.conf_file is not None:
        yield args
        return
    with resources.as_file(hyperparams_file()) as path:
        yield [*args, "--conf-file", str(path)]
