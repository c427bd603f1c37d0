"""
The runs of ``benchmarks/data`` (written by ``run_benchmarks.py``) as ``analyze.py`` reads them, and what it measures
on each: the first evaluation at or above a threshold, the wall-clock time there, rliable's IQM and its bootstrap CI,
the provenance check; and how RESULTS.md writes steps, seconds and intervals.

Time to target: each run's wall-clock seconds at its steps to target (the first evaluation at or above the env's
target in ``SCOPE``), read from its ``time.csv`` (cumulative training steps against wall-clock seconds, at the
training episodes' ends), interpolated linearly.

Provenance: every run is checked against the current tree. A run is flagged (a warning on stderr, and a mark in
RESULTS.md) when it has no ``provenance.json`` written at its start (the runs made before it existed only have
the commit that ``done.json`` recorded at their end), when it started from a dirty tree, or when its recorded
hash of the algorithm's code or of its hyperparameter entry differs from the current tree's.
"""

import json
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from common import DATA_DIR, code_check, code_hash, entry_hash, hyperparams_entry, provenance_issues

REPS = 2000
# Fixed bootstrap seed: rerunning analyze.py on the same data gives the same CIs. rliable's StratifiedBootstrap
# draws from NumPy's global generator (its random_state argument does not reach update_indices), so it is seeded
# before each call.
BOOTSTRAP_SEED = 0

Run = dict[str, Any]


def load_runs(env: str, algo: str) -> list[Run]:
    """Every finished run of ``algo`` on ``env`` in ``data/``: its evaluations, ``done.json`` and provenance."""
    runs = []
    for folder in sorted((DATA_DIR / env / algo).glob("seed*"), key=lambda path: int(path.name[4:])):
        if not (folder / "evaluations.npz").exists() or not (folder / "done.json").exists():
            continue
        evaluations = np.load(folder / "evaluations.npz")
        done = json.loads((folder / "done.json").read_text())
        start = folder / "provenance.json"
        time_csv = np.loadtxt(folder / "time.csv", delimiter=",", skiprows=1, ndmin=2)
        explained_csv = folder / "explained_variance.csv"
        explained = np.loadtxt(explained_csv, delimiter=",", skiprows=1, ndmin=2) if explained_csv.exists() else None
        runs.append(
            {
                "seed": int(folder.name[4:]),
                "timesteps": evaluations["timesteps"],
                "scores": evaluations["results"].mean(axis=1),
                "final_length": float(evaluations["ep_lengths"][-1].mean()),
                "time_at": lambda steps, t=time_csv: np.interp(steps, t[:, 0], t[:, 1]),
                "done": done,
                "provenance": json.loads(start.read_text()) if start.exists() else None,
                "explained_variance": explained,
            }
        )
    return runs


def recorded_commit(run: Run) -> str:
    """The run's commit, short, with ``+dirty``; from ``provenance.json`` if it has one, else from ``done.json``."""
    if run["provenance"] is not None:
        commit = run["provenance"]["git_commit"][:7]
        return commit + ("+dirty" if run["provenance"].get("git_dirty") else "")
    commit = run["done"].get("git_commit")
    return "none" if commit is None else commit[:7] + ("+dirty" if commit.endswith("+dirty") else "")


def seed_list(seeds: list[int]) -> str:
    """``[0, 1, 2, 4]`` -> ``"0-2, 4"``."""
    parts: list[str] = []
    for seed in sorted(seeds):
        if parts and seed == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{seed}"
        else:
            parts.append(str(seed))
    return ", ".join(parts)


def group_by(values: dict[int, str]) -> str:
    """Values by seed, each with the seeds that have it: ``"a (seeds 0-2); b (seeds 3, 4)"``."""
    groups: dict[str, list[int]] = {}
    for seed, value in values.items():
        groups.setdefault(value, []).append(seed)
    return "; ".join(f"{value} (seeds {seed_list(seeds)})" for value, seeds in groups.items())


def first_reach(run: Run, threshold: float) -> float:
    reached = np.flatnonzero(run["scores"] >= threshold)
    return float(run["timesteps"][reached[0]]) if len(reached) else float("inf")


def time_to_target(run: Run, threshold: float) -> float:
    """
    The run's wall-clock seconds at its ``first_reach`` of ``threshold``: its ``time.csv`` interpolated at that step
    count; infinite if it never reached it.
    """
    steps = first_reach(run, threshold)
    return float(run["time_at"](steps)) if np.isfinite(steps) else float("inf")


def aggregate_iqm(scores: np.ndarray) -> float:
    """rliable's interquartile mean (rliable is imported where it is used: the rest does without it)."""
    from rliable import metrics

    return float(metrics.aggregate_iqm(scores))


def interval(scores: np.ndarray, func: Callable[[np.ndarray], Any]) -> tuple[float, float, float]:
    from rliable import library as rly

    np.random.seed(BOOTSTRAP_SEED)
    # (runs,) -> (runs, 1 task); a (runs, tasks) matrix stays as it is: the bootstrap resamples runs within each task
    point, ci = rly.get_interval_estimates({"x": scores.reshape(len(scores), -1)}, func, reps=REPS)
    low, high = np.ravel(ci["x"])
    return float(np.ravel(point["x"])[0]), float(low), float(high)


def fmt_interval(estimate: tuple[float, float, float]) -> str:
    """``"188.0 [137.2, 242.3]"``: a point estimate with its CI (``interval``'s result)."""
    return f"{estimate[0]:.1f} [{estimate[1]:.1f}, {estimate[2]:.1f}]"


def fmt_steps(value: float) -> str:
    return "not reached" if not np.isfinite(value) else f"{value / 1000:.0f}k"


def fmt_seconds(value: float) -> str:
    """Seconds as ``"42 s"``, from 100 s on as ``"1.7 min"``; infinite: ``"not reached"``."""
    if not np.isfinite(value):
        return "not reached"
    return f"{value:.0f} s" if value < 100 else f"{value / 60:.1f} min"


def fmt_reach(run: Run, threshold: float) -> str:
    """``"15k in 21 s"``: the run's steps and wall-clock time to ``threshold``; ``"not reached"``."""
    steps = first_reach(run, threshold)
    return f"{fmt_steps(steps)} in {fmt_seconds(time_to_target(run, threshold))}" if np.isfinite(steps) else "not reached"


def check_provenance(all_data: dict[str, dict[str, list[Run]]]) -> dict[tuple[str, str, int], list[str]]:
    """``provenance_issues`` of every run, against the current tree; prints a warning per env and algorithm."""
    current_code = code_hash()
    issues: dict[tuple[str, str, int], list[str]] = {}
    for env, data in all_data.items():
        for algo, runs in data.items():
            current_entry, checked_code = entry_hash(hyperparams_entry(env, algo)), code_check(algo, current_code)
            for run in runs:
                record, done = run["provenance"], run["done"]
                issues[(env, algo, run["seed"])] = provenance_issues(record, done, checked_code, current_entry)
            flagged = {run["seed"]: "; ".join(issues[(env, algo, run["seed"])]) for run in runs}
            flagged = {seed: text for seed, text in flagged.items() if text}
            if flagged:
                summary = group_by(flagged)
                print(f"WARNING: provenance of {env} {algo}: {summary}", file=sys.stderr)
    return issues
