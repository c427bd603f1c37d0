"""
``sb3-reinforce-zoo`` (or ``python -m sb3_reinforce.zoo``): the RL Zoo's command line, with ``--algo reinforce``.

It is a superset of ``rl_zoo3``'s CLI: ``sb3-reinforce-zoo SCRIPT [ARGS...]`` registers REINFORCE
(:func:`sb3_reinforce.zoo.register`), then runs the Zoo's own script with the same arguments, so every
``--algo`` the Zoo knows keeps working. Its scripts: train (and ``-optimize``), enjoy, the plot scripts, and those the
Zoo has as ``python -m rl_zoo3.SCRIPT`` only (record_video, record_training, push_to_hub, load_from_hub). On top of the Zoo:

- ``train --algo reinforce`` without ``-conf/--conf-file`` reads the hyperparameters shipped with this
  package (``sb3_reinforce/hyperparams/reinforce.yml``);
- the current folder is on ``sys.path`` while a script runs, as with ``python -m`` or the Zoo's ``python train.py``
  run from its root: ``-conf hyperparams.python.my_config`` (a module path), ``--gym-packages`` and the classes named
  in hyperparameters (``env_wrapper``, ``callback``) are found there from the installed command too;
- ``train --storage postgresql://...`` works with psycopg2 as well as psycopg 3 (see :func:`storage_url`);
- ``train -optimize --trial-seeds S1 S2 ...`` scores each trial on those seeds (the mean of their final evaluations),
  where the Zoo trains one unseeded model per trial (see :mod:`sb3_reinforce.zoo.trials`);
- ``record_training`` starts its ``record_video`` children through this command, so they know ``--algo reinforce``
  (see :mod:`sb3_reinforce.zoo.videos`); it and ``push_to_hub``'s replay video use imageio-ffmpeg's ``ffmpeg`` when
  none is on ``PATH``;
- ``push_to_hub`` and ``load_from_hub`` stop with an error naming the cause where the Hugging Face Hub cannot be reached,
  and run with the installed ``sb3-team-hf-integration`` (see :mod:`sb3_reinforce.zoo.hub`);
- the plot scripts accept ``--savefig FILE``: the figures are written to FILE instead of being shown
  (with several figures, FILE's name gets a suffix per figure), which works without a display;
- ``all_plots -o plots/results`` creates the folder ``plots``, and ``all_plots`` stops with an error naming each
  algorithm and env that has no evaluations in the folders given (the Zoo's table would show ``0.0 +/- 0.0``);
- ``plot_from_file`` stops with an error naming each algorithm that has a single run in every env of the results
  (where the Zoo fails with ``ValueError: min() arg is an empty sequence``).
"""

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from importlib import resources
from typing import NoReturn

from sb3_reinforce.zoo import ALGO_NAME, hyperparams_file, register
from sb3_reinforce.zoo.argv import PROG, PreParseError, PreParser, call_with_argv, run_module_with_argv
from sb3_reinforce.zoo.trials import objective_over_seeds

#: The subcommands and what they do
SCRIPTS: dict[str, str] = {
    "train": "train an agent, or tune its hyperparameters (-optimize)",
    "enjoy": "run a trained agent",
    "record_video": "record a video of a trained agent",
    "record_training": "record a video of each checkpoint, the best and the final model, joined",
    "plot_train": "plot the training curves of a run (monitor files)",
    "all_plots": "plot and tabulate the evaluations of several runs",
    "plot_from_file": "plot the results saved by all_plots -o",
    "push_to_hub": "evaluate a trained agent, record a replay, write its model card, upload it to the HF Hub",
    "load_from_hub": "download a trained agent from the HF Hub into a log folder",
}

PLOT_SCRIPTS = ("plot_train", "all_plots", "plot_from_file")
HUB_SCRIPTS = ("push_to_hub", "load_from_hub")


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
    lines += [f"  {name:<16} {description}" for name, description in SCRIPTS.items()]
    lines += [
        "",
        "train --algo reinforce uses the hyperparameters shipped with sb3-reinforce unless -conf/--conf-file is given;",
        "-optimize tunes them; --trial-seeds S1 S2 ... scores each trial on those seeds (the mean of their scores).",
        "The current folder is on the module path (-conf hyperparams.python.my_config).",
        "plot_train, all_plots and plot_from_file also accept --savefig FILE (write the figures instead of showing them).",
        "push_to_hub and load_from_hub need the Hugging Face Hub; load_from_hub also TRUST_REMOTE_CODE=True (pickled models).",
        "Not offered: the Zoo's benchmark (it runs `python enjoy.py` on its own trained agents). The scripts of the Zoo's",
        "repository (parse_study.py, ...) do not use --algo: run them from a clone; train --trial-id N reads a trial.",
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
    with _cwd_on_sys_path():
        run_script(script, script_args)


@contextlib.contextmanager
def _cwd_on_sys_path() -> Iterator[None]:
    """
    Put the current folder first on ``sys.path`` (unless it is there already), as ``python -m`` does, and as
    ``python train.py`` does from the Zoo's root (the script's folder), so that the modules a Zoo script imports by
    name (``-conf`` given as a module path, ``--gym-packages``, ``env_wrapper`` or ``callback`` in the hyperparameters)
    are found in the current folder from the installed command too. ``sys.path`` is restored afterwards.

    rl_zoo3 limitation: its installed command ``rl_zoo3 train`` has the script's folder (``bin/``) on ``sys.path``,
    not the current folder.

    :return: a context manager
    """
    cwd = os.getcwd()
    if any(os.path.abspath(entry or os.curdir) == cwd for entry in sys.path):
        yield
        return
    sys.path.insert(0, cwd)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(cwd)


def run_script(script: str, args: list[str]) -> None:
    """
    Run one of the Zoo's scripts (REINFORCE must be registered first, see :func:`sb3_reinforce.zoo.register`).

    :param script: one of :data:`SCRIPTS`
    :param args: its command line arguments
    """
    if script == "train":
        from rl_zoo3.train import train

        args, trial_seeds = _trial_seeds(args)
        over_seeds = objective_over_seeds(trial_seeds) if trial_seeds else contextlib.nullcontext()
        with _train_args(args) as train_args, over_seeds:
            call_with_argv(train, script, train_args)
    elif script == "enjoy":
        from rl_zoo3.enjoy import enjoy

        call_with_argv(enjoy, script, args)
    elif script == "record_video":
        # rl_zoo3 limitation: record_video is a script only (its code runs under `if __name__ == "__main__"`)
        run_module_with_argv("rl_zoo3.record_video", script, args)
    elif script == "record_training":
        from sb3_reinforce.zoo.videos import run_record_training

        run_record_training(args)
    elif script in HUB_SCRIPTS:
        from sb3_reinforce.zoo.hub import run_hub_script

        run_hub_script(script, args)
    elif script in PLOT_SCRIPTS:
        from sb3_reinforce.zoo.plots import run_plot

        run_plot(script, args)
    else:
        raise ValueError(f"Unknown script {script!r}, expected one of {list(SCRIPTS)}")


def _trial_seeds(args: list[str]) -> tuple[list[str], list[int] | None]:
    """
    Take this command's own ``--trial-seeds S1 S2 ...`` (``-optimize`` only) out of the arguments of ``train``.

    :param args: the arguments of ``train``
    :return: the arguments for the Zoo, and the seeds (None if not given)
    """
    parser = PreParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--trial-seeds", nargs="+", default=None)
    try:
        known, rest = parser.parse_known_args(args)
    except PreParseError:
        _exit("train: error: --trial-seeds needs one or more seeds, e.g. --trial-seeds 100 101 102.")
    if known.trial_seeds is None:
        return args, None
    values = known.trial_seeds
    if not all(value.isdigit() for value in values) or len(set(values)) < len(values):
        _exit(f"train: error: --trial-seeds must be distinct integers >= 0 (the seeds of each Optuna trial), got {values}.")
    optimize = PreParser(add_help=False)
    optimize.add_argument("-optimize", "--optimize-hyperparameters", action="store_true")
    try:
        optimizing = optimize.parse_known_args(rest)[0].optimize_hyperparameters
    except PreParseError:
        optimizing = False
    if not optimizing:
        _exit("train: error: --trial-seeds scores the trials of a study: add -optimize, or remove --trial-seeds.")
    return rest, [int(value) for value in values]


def _exit(message: str) -> NoReturn:
    print(f"{PROG} {message}", file=sys.stderr)
    sys.exit(2)


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
    parser = PreParser(add_help=False)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("-conf", "--conf-file", default=None)
    parser.add_argument("--storage", default=None)
    try:
        known, _ = parser.parse_known_args(args)
    except PreParseError:
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
