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
import pickle
import re
import runpy
import sys
import warnings
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

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
        _run_plot(script, args)
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


def _prepare_plot_imports() -> None:
    """
    Let the Zoo's plot scripts import with a broken optional dependency.

    rl_zoo3 limitation: ``rl_zoo3.plots`` imports rliable at import time and catches only an ``ImportError``.

    ``rl_zoo3.plots`` imports ``rliable`` (only used by ``plot_from_file --rliable``) and treats an ``ImportError``
    as "not installed". An installed rliable can fail with another error (e.g. ``arch`` < 8 with ``pandas`` >= 3
    raises a ``TypeError``), which would break every plot script: treat it as not installed, with a warning.
    """
    try:
        import rliable.library  # noqa: F401
    except ImportError:
        pass
    except Exception as error:
        warnings.warn(
            f"rliable is installed but cannot be imported ({type(error).__name__}: {error}); "
            "the plots run without it (plot_from_file --rliable/--versus/--iqm are unavailable).",
            stacklevel=2,
        )
        sys.modules["rliable.library"] = None  # type: ignore[assignment]


def _run_plot(script: str, args: list[str]) -> None:
    """
    Run a Zoo plot script, with the ``--savefig FILE`` option added by this command.

    rl_zoo3 limitation: the plot scripts call ``plt.show()`` and cannot write their figures to a file.

    :param script: ``plot_train``, ``all_plots`` or ``plot_from_file``
    :param args: its arguments
    """
    parser = _PreParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--savefig", default=None)
    try:
        known, zoo_args = parser.parse_known_args(args)
    except _PreParseError as error:
        print(f"{PROG} {script}: error: {error}", file=sys.stderr)
        sys.exit(2)
    if "-h" in zoo_args or "--help" in zoo_args:
        print(f"{PROG} adds: --savefig FILE  write the figures to FILE (a suffix per figure if several), do not show them")

    if script == "all_plots" and not ("-h" in zoo_args or "--help" in zoo_args):
        _prepare_all_plots(zoo_args)
    if script == "plot_from_file" and not ("-h" in zoo_args or "--help" in zoo_args):
        _prepare_plot_from_file(zoo_args)
    _prepare_plot_imports()
    import rl_zoo3.plots

    function = getattr(rl_zoo3.plots, script)
    if known.savefig is None:
        _call_with_argv(function, script, zoo_args)
        return

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.close("all")
    show = plt.show
    plt.show = lambda *_args, **_kwargs: None  # the figures are saved below instead
    try:
        _call_with_argv(function, script, zoo_args)
    finally:
        plt.show = show
    for path in save_figures(known.savefig):
        print(f"Figure saved to {path}")


def _prepare_all_plots(args: list[str]) -> None:
    """
    Before the Zoo's ``all_plots`` runs: create the folder of ``-o/--output``, and stop with an error if an algorithm
    has no evaluations for an env in the folders given.

    rl_zoo3 limitations: ``all_plots`` writes ``<output>.pkl`` without creating its folder, and shows ``0.0 +/- 0.0``
    in its table for an algorithm that has no runs.

    :param args: the arguments of ``all_plots``
    """
    parser = _PreParser(add_help=False)
    parser.add_argument("-a", "--algos", nargs="+", default=None)
    parser.add_argument("-e", "--env", nargs="+", default=None)
    parser.add_argument("-f", "--exp-folders", nargs="+", default=None)
    parser.add_argument("-o", "--output", default=None)
    try:
        known, _ = parser.parse_known_args(args)
    except _PreParseError:
        return  # left to the Zoo's parser, which reports the error
    if known.output is not None:
        Path(known.output).parent.mkdir(parents=True, exist_ok=True)
    if not (known.algos and known.env and known.exp_folders):
        return  # the Zoo's parser reports what is missing
    missing = [
        f"{algo.upper()} on {env}"
        for algo in known.algos
        for env in known.env
        if not any(evaluated_runs(folder, algo, env) for folder in known.exp_folders)
    ]
    if missing:
        folders = ", ".join(known.exp_folders)
        print(
            f"{PROG} all_plots: error: no evaluations for {'; '.join(missing)} in {folders} (looked for "
            "<folder>/<algo>/<env>_<n>/evaluations.npz with at least 2 evaluations: train with --eval-freq). "
            "The table would show 0.0 +/- 0.0 for them: train them first, or leave them out of --algos.",
            file=sys.stderr,
        )
        sys.exit(2)
    for folder in known.exp_folders:
        for algo in known.algos:
            for env in known.env:
                if not evaluated_runs(folder, algo, env):
                    warnings.warn(
                        f"all_plots: no evaluations for {algo.upper()} on {env} in {folder}: "
                        "its cell of the table shows 0.0 +/- 0.0, which is not a result.",
                        stacklevel=2,
                    )


def _prepare_plot_from_file(args: list[str]) -> None:
    """
    Before the Zoo's ``plot_from_file`` runs: stop with an error if an algorithm of the results has a single run in
    every env kept, and warn for each env where it has one.

    rl_zoo3 limitation: ``all_plots`` saves the last evaluations of a single run as a number instead of one value per
    run; ``plot_from_file`` skips such an env ("Skipping ...") and fails with ``ValueError: min() arg is an empty
    sequence`` for an algorithm whose every env it skipped.

    :param args: the arguments of ``plot_from_file``
    """
    parser = _PreParser(add_help=False)
    parser.add_argument("-i", "--input", default=None)
    parser.add_argument("-skip", "--skip-envs", nargs="+", default=[])
    parser.add_argument("--keep-envs", nargs="+", default=[])
    parser.add_argument("--skip-keys", nargs="+", default=[])
    parser.add_argument("--keep-keys", nargs="+", default=[])
    parser.add_argument("--merge", nargs="+", default=[])
    # Read as flags, as the Zoo's parser reads them: "-iqm" is not "-i qm"
    parser.add_argument("-iqm", "--iqm", action="store_true")
    try:
        known, _ = parser.parse_known_args(args)
    except _PreParseError:
        return  # left to the Zoo's parser, which reports the error
    import numpy as np

    results = _load_plot_results(known.input, known.merge)
    if not results:
        return  # left to the Zoo: no file, or no env in it
    keys = [key for key in next(iter(results.values())) if key not in known.skip_keys]
    keys = [key for key in keys if key in known.keep_keys] if known.keep_keys else keys
    envs = [env for env in results if env not in known.skip_envs]
    envs = [env for env in envs if env in known.keep_envs] if known.keep_envs else envs
    single = {key: [env for env in envs if np.ndim(results[env].get(key, {}).get("last_evals", [])) == 0] for key in keys}
    missing = [key for key in keys if envs and single[key] == envs]
    if missing:
        print(
            f"{PROG} plot_from_file: error: {known.input} holds a single run of {', '.join(missing)} on "
            f"{', '.join(envs)}. plot_from_file needs at least 2 runs per algorithm and env (all_plots saves the final "
            "scores of a single run as one number, which it cannot plot). Train more runs (train --seed N), save the "
            f"results again with all_plots -o, or leave them out with --skip-keys {' '.join(missing)}.",
            file=sys.stderr,
        )
        sys.exit(2)
    for key in keys:
        for env in single[key]:
            warnings.warn(
                f"plot_from_file: {key} has a single run on {env}: its final scores on {env} are left out of the plots.",
                stacklevel=2,
            )


def _load_plot_results(filename: str | None, merge: list[str]) -> dict:
    """
    The results that ``plot_from_file`` reads: the file saved by ``all_plots -o``, merged with the ``--merge`` files as
    the Zoo merges them, without the table.

    :param filename: ``-i/--input`` (``.pkl`` is added if missing)
    :param merge: ``--merge``
    :return: ``{env: {key: results}}``, empty if a file is missing
    """
    if filename is None:
        return {}
    path = Path(filename if filename.endswith(".pkl") else f"{filename}.pkl")
    if not path.is_file() or not all(Path(name).is_file() for name in merge):
        return {}
    with open(path, "rb") as file:
        results = pickle.load(file)
    results.pop("results_table", None)
    for name in merge:
        with open(name, "rb") as file:
            other = pickle.load(file)
        other.pop("results_table", None)
        for env in results:
            results[env].update(other.get(env, {}))
    return results


def evaluated_runs(folder: str, algo: str, env: str) -> list[Path]:
    """
    The runs that the Zoo's ``all_plots`` reads for an algorithm and an env: ``<folder>/<algo>/<run>/evaluations.npz``
    where the run's folder name contains the env id, with at least 2 evaluations (the Zoo skips a run with one).

    :param folder: a log folder (``-f``)
    :param algo: the algorithm, as given to ``--algos``
    :param env: the env id
    :return: the ``evaluations.npz`` files
    """
    import numpy as np

    log_path = Path(folder) / algo.lower()
    if not log_path.is_dir():
        return []
    found = []
    for run in sorted(log_path.iterdir()):
        evaluations = run / "evaluations.npz"
        if env in run.name and evaluations.is_file():
            with np.load(evaluations) as data:
                if len(data["results"]) >= 2:
                    found.append(evaluations)
    return found


def save_figures(filename: str) -> list[Path]:
    """
    Write every open matplotlib figure to a file, then close it.

    With one figure, it is written to ``filename``; with several, to ``<stem>-<figure label><suffix>``
    (the figure number if it has no label). Without a suffix, ``.png`` is used.

    :param filename: where to write the figure(s); the format follows the suffix
    :return: the files written
    """
    from matplotlib import pyplot as plt

    path = Path(filename)
    if path.suffix == "":
        path = path.with_suffix(".png")
    numbers = plt.get_fignums()
    if not numbers:
        raise RuntimeError("The script made no figure to save (no data found?).")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for number in numbers:
        figure = plt.figure(number)
        target = path
        if len(numbers) > 1:
            label = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(figure.get_label())).strip("_") or str(number)
            target = path.with_name(f"{path.stem}-{label}{path.suffix}")
        figure.savefig(target)
        written.append(target)
    plt.close("all")
    return written


if __name__ == "__main__":
    main()
