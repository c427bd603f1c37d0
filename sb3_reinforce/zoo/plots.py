"""
The RL Zoo's plot scripts as ``sb3-reinforce-zoo`` runs them (:func:`run_plot`): with ``--savefig FILE``, a clear
error where ``all_plots`` finds no evaluations or ``plot_from_file`` a single run, and rliable made optional.
"""

import pickle
import re
import sys
import warnings
from pathlib import Path

from sb3_reinforce.zoo.argv import PROG, PreParseError, PreParser, call_with_argv


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


def run_plot(script: str, args: list[str]) -> None:
    """
    Run a Zoo plot script, with the ``--savefig FILE`` option added by this command.

    rl_zoo3 limitation: the plot scripts call ``plt.show()`` and cannot write their figures to a file.

    :param script: ``plot_train``, ``all_plots`` or ``plot_from_file``
    :param args: its arguments
    """
    parser = PreParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--savefig", default=None)
    try:
        known, zoo_args = parser.parse_known_args(args)
    except PreParseError as error:
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
        call_with_argv(function, script, zoo_args)
        return

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.close("all")
    show = plt.show
    plt.show = lambda *_args, **_kwargs: None  # the figures are saved below instead
    try:
        call_with_argv(function, script, zoo_args)
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
    parser = PreParser(add_help=False)
    parser.add_argument("-a", "--algos", nargs="+", default=None)
    parser.add_argument("-e", "--env", nargs="+", default=None)
    parser.add_argument("-f", "--exp-folders", nargs="+", default=None)
    parser.add_argument("-o", "--output", default=None)
    try:
        known, _ = parser.parse_known_args(args)
    except PreParseError:
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
    parser = PreParser(add_help=False)
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
    except PreParseError:
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
