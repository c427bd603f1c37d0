"""
The trials of an Optuna study of the RL Zoo's ``-optimize`` as a Markdown table, best first: each trial's state, score,
per-seed scores (``--trial-seeds``) and sampled parameters. It reads the study's storage (a journal ``.log`` file, as
the Zoo takes ``--storage``, or a database URL), so that a study in progress, or stopped, can be reported::

    python benchmarks/study_table.py --storage benchmarks/data/optuna/STUDY/study.log --study-name NAME
"""

import argparse

import optuna
from optuna.storages.journal import JournalFileBackend


def storage(path: str) -> str | optuna.storages.BaseStorage:
    """The storage the Zoo opens for ``--storage``: a journal file for ``.log``, else a database URL."""
    if path.endswith(".log"):
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    return path


def table(study: optuna.Study) -> list[str]:
    """The study's trials, one row each, completed ones by score (best first), then the others by number."""
    finished = [trial for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE]
    others = [trial for trial in study.trials if trial.state != optuna.trial.TrialState.COMPLETE]
    lines = ["| trial | state | score | per seed | params |", "|---|---|---|---|---|"]
    for trial in sorted(finished, key=lambda trial: -float(trial.value or 0.0)) + others:
        score = "" if trial.value is None or trial.state != optuna.trial.TrialState.COMPLETE else f"{trial.value:.1f}"
        per_seed = ", ".join(f"{value:.1f}" for value in trial.user_attrs.get("seed_scores", []))
        params = ", ".join(f"{name}: {_value(value)}" for name, value in trial.params.items())
        lines.append(f"| {trial.number} | {trial.state.name.lower()} | {score} | {per_seed} | {params} |")
    return lines


def _value(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", required=True, help="the Zoo's --storage: a journal .log file or a database URL")
    parser.add_argument("--study-name", required=True)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print("\n".join(table(optuna.load_study(study_name=args.study_name, storage=storage(args.storage)))))


if __name__ == "__main__":
    main()
