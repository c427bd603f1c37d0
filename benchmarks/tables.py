"""
RESULTS.md's tables of the runs (final scores, per seed, the side-by-side time to target of
``time_to_target.json``, the steps/s against A2C of ``throughput.py cartpole``) and the results table that README.md
and docs/reinforce.md show between their markers.
"""

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from common import ALGOS, BENCH_DIR, REPO_ROOT, SCOPE, ZOO_ENTRY_ALIASES, hyperparams_entry
from run_data import (
    Run,
    aggregate_iqm,
    first_reach,
    fmt_reach,
    fmt_seconds,
    fmt_steps,
    group_by,
    interval,
    recorded_commit,
    seed_list,
    time_to_target,
)

TIME_TO_TARGET = BENCH_DIR / "time_to_target.json"
# The results of ``throughput.py cartpole``, in the order RESULTS.md shows them
THROUGHPUT = tuple(BENCH_DIR / name for name in ("throughput.json", "throughput_nsteps256.json"))
# The keys of a Zoo entry that leaves every algorithm argument at SB3's default
UNTUNED_KEYS = {"policy", "n_timesteps", "normalize", "n_envs"}


def untuned_note(env: str, algo: str) -> str | None:
    """
    For A2C and PPO: a note if the Zoo's entry used on ``env`` sets no algorithm argument (SB3's defaults, plus
    ``normalize`` at most), read from the entry itself; None if the entry sets some, and for REINFORCE.
    """
    if algo == "reinforce":
        return None
    entry = hyperparams_entry(env, algo)
    if not set(entry) <= UNTUNED_KEYS:
        return None
    name = ZOO_ENTRY_ALIASES.get(env, env)
    settings = ", ".join(f"`{key}: {json.dumps(value)}`" for key, value in sorted(entry.items()))
    return (
        f"{env}, {algo}: the RL Zoo's `{algo}.yml` entry used ({name}, unchanged) is {settings}: "
        f"SB3's {algo.upper()} defaults plus `normalize`, not tuned hyperparameters."
    )


def results_table(all_data: dict[str, dict[str, list[Run]]], flagged: dict[tuple[str, str], int]) -> list[str]:
    """The main table: one row per env and algorithm, with the number of runs flagged by the provenance check."""
    lines = [
        "| env (budget) | algo | seeds | final IQM [95% CI] | final mean ± std | steps to target (median) "
        "| time to target (median) | wall-clock / run | steps/s | provenance flags |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    notes: list[str] = []
    for env, data in all_data.items():
        spec = SCOPE[env]
        for algo, runs in data.items():
            name = f"{env} ({fmt_steps(spec.budget) if spec.budget < 1_000_000 else f'{spec.budget / 1e6:g}M'})"
            if not runs:
                lines.append(f"| {name} | {algo} | 0 | not run yet | | | | | | |")
                continue
            note = untuned_note(env, algo)
            if note is not None:
                notes.append(note)
            label = f"{algo} (untuned Zoo entry [{len(notes)}])" if note is not None else algo
            final = np.array([run["scores"][-1] for run in runs])
            iqm, low, high = interval(final, aggregate_iqm)
            reach = np.median([first_reach(run, spec.target) for run in runs])
            reach_s = np.median([time_to_target(run, spec.target) for run in runs])
            wall = np.median([run["done"]["wall_clock_s"] for run in runs])
            fps = np.median([run["done"]["steps_per_s"] for run in runs])
            flags = flagged.get((env, algo), 0)
            lines.append(
                f"| {name} | {label} | {seed_list([run['seed'] for run in runs])} | {iqm:.1f} [{low:.1f}, {high:.1f}] "
                f"| {final.mean():.1f} ± {final.std():.1f} | {fmt_steps(reach)} | {fmt_seconds(reach_s)} "
                f"| {wall / 60:.1f} min | {fps:.0f} "
                f"| {f'{flags}/{len(runs)} runs' if flags else 'none'} |"
            )
    lines += [
        "",
        "Steps to target: the first evaluation at or above REINFORCE's target (next section), per seed. Time to target:",
        "each run's wall-clock time at that step (its `time.csv`: the training episodes' ends, interpolated), with the",
        "Zoo's evaluations in it, from runs made 2 at a time ([notes.md](notes.md), known limitations); the median of",
        "the runs' times (each run's: per-seed section).",
    ]
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, start=1)]
    return lines


def fmt_spread(spread: dict[str, float | None], fmt: Callable[[float], str]) -> str:
    """
    ``"median [min, max]"`` of a summary entry of ``time_to_target.json``, each by ``fmt``, None as "not reached";
    just ``"not reached"`` if no seed reached it.
    """
    if spread["min"] is None:
        return "not reached"
    median, low, high = ("not reached" if (value := spread[key]) is None else fmt(value) for key in ("median", "min", "max"))
    return f"{median} [{low}, {high}]"


def side_by_side_section(path: Path = TIME_TO_TARGET) -> list[str]:
    """
    The summary table of ``time_to_target.json`` (``throughput.py time-to-target``) with its settings, commit,
    system and commands, under its own heading; nothing if the file does not exist.
    """
    if not path.exists():
        return []
    result = json.loads(path.read_text())
    settings, system = result["settings"], result["system"]
    kwargs = "; ".join(
        f"`{algo}`: {entry['class']}({', '.join(f'{key}={value!r}' for key, value in entry['kwargs'].items())})"
        for algo, entry in settings["algos"].items()
    )
    versions = ", ".join(f"{key} {system.get(key, '?')}" for key in ("sb3_reinforce", "stable_baselines3", "torch", "cpu"))
    dirty = f" + uncommitted changes to {', '.join(result['dirty_files'])}" if result["dirty_files"] else ""
    lines = [
        "## Time to target, side by side",
        "",
        f"{settings['env']}: env steps and seconds of training until the first deterministic evaluation "
        f"({settings['n_eval_episodes']} episodes, every {settings['eval_freq']:,} steps, its time left out) with a mean "
        f"≥ {settings['target']:g}; a run stops there, or at {settings['max_steps']:,} steps (not reached). One process, one "
        "torch thread, the runs interleaved (per seed, the algorithms in an order rotated by seed); each algorithm with "
        f"its constructor defaults ({kwargs}). Median [min, max] over seeds, a seed that missed counting as not "
        "reached.",
        "",
        f"From [{path.name}]({path.name}): commit {result['commit'][:7]}{dirty}; {versions}. "
        + "Commands: "
        + "; ".join(f"`{command}`" for command in result["commands"])
        + ".",
        "",
        "| algo | n_envs | seeds | reached | steps to target | seconds to target |",
        "|---|---|---|---|---|---|",
    ]
    for entry in result["summary"]:
        lines.append(
            f"| {entry['algo']} | {entry['n_envs']} | {seed_list(entry['seeds'])} | {entry['reached']}/{len(entry['seeds'])} "
            f"| {fmt_spread(entry['steps_to_target'], lambda steps: f'{steps / 1000:g}k')} "
            f"| {fmt_spread(entry['seconds_to_target'], lambda seconds: f'{seconds:.1f}')} |"
        )
    return [*lines, ""]


README_START, README_END = "<!-- results table: generated by benchmarks/analyze.py -->", "<!-- end of results table -->"
# The pages that show the results table, each with the path from its folder to the repository root
TABLE_PAGES = {REPO_ROOT / "README.md": "", REPO_ROOT / "docs" / "reinforce.md": "../"}


def throughput_section(paths: tuple[Path, ...] = THROUGHPUT) -> list[str]:
    """
    The steps/s of each variant of ``throughput.py cartpole`` (its docstring says what each is) and the ratio of each
    REINFORCE variant to A2C, per result file, with its command, commit and system; nothing if no file exists.

    :param paths: the result files, one table each
    """
    lines = [
        "## Steps per second against A2C",
        "",
        "CartPole-v1, `MlpPolicy`, one torch thread (envs and batch size: the command); the variants interleaved in one "
        "process, repeat by repeat "
        "(`benchmarks/throughput.py`'s docstring says what each variant is). Steps/s: median [min, max] over the "
        "repeats; REINFORCE / A2C: the median of the paired ratios and its 95% bootstrap interval.",
        "",
    ]
    found = [path for path in paths if path.exists()]
    for path in found:
        result = json.loads(path.read_text())
        dirty = f" + uncommitted changes to {', '.join(result['dirty_files'])}" if result["dirty_files"] else ""
        lines += [
            f"From [{path.name}]({path.name}): `{result['command']}`; commit {result['commit'][:7]}{dirty}; "
            f"{result['system']['cpu']}.",
            "",
            "| variant | steps/s | REINFORCE / A2C |",
            "|---|---|---|",
        ]
        for variant, fps in result["steps_per_s"].items():
            ratio = result.get(f"{variant}_over_a2c")
            cell = f"{ratio['median']:.3f} [{ratio['ci95'][0]:.3f}, {ratio['ci95'][1]:.3f}]" if ratio else ""
            lines.append(f"| {variant} | {fps['median']:,} [{fps['min']:,}, {fps['max']:,}] | {cell} |")
        lines.append("")
    return lines if found else []


def readme_table(all_data: dict[str, dict[str, list[Run]]], root: str = "") -> list[str]:
    """
    The README's table: the final IQM [95% CI] of each algorithm per env, and REINFORCE's target, met or missed; then
    a line pointing to RESULTS.md's normalized scores.

    :param all_data: the runs per env and algorithm (``load_runs``)
    :param root: the path from the page's folder to the repository root, for the link (``""`` or ``"../"``)
    """
    lines = ["| env (budget) | seeds | REINFORCE | A2C | PPO | REINFORCE target |", "|---|---|---|---|---|---|"]
    for env, data in all_data.items():
        spec = SCOPE[env]
        if not data["reinforce"]:
            continue
        cells = []
        for algo in ALGOS:
            if not data[algo]:
                cells.append("not run")
                continue
            iqm, low, high = interval(np.array([run["scores"][-1] for run in data[algo]]), aggregate_iqm)
            cells.append(
                f"{'**' if algo == 'reinforce' else ''}{iqm:.1f}{'**' if algo == 'reinforce' else ''} [{low:.1f}, {high:.1f}]"
            )
            if algo == "reinforce":
                status = "met" if iqm >= spec.target else "**missed**"
        budget = fmt_steps(spec.budget) if spec.budget < 1_000_000 else f"{spec.budget / 1e6:g}M"
        seeds = seed_list([run["seed"] for run in data["reinforce"]])
        lines.append(f"| {env} ({budget}) | {seeds} | {' | '.join(cells)} | ≥ {spec.target:g}: {status} |")
    pointer = "Scores normalized between a random policy (0) and PPO (1), per env and over the envs:"
    return [*lines, "", f"{pointer} [benchmarks/RESULTS.md]({root}benchmarks/RESULTS.md#normalized-scores)."]


def write_table(page: Path, table: list[str]) -> None:
    """Replace the table between the page's markers (README.md and docs/reinforce.md quote no result by hand)."""
    text = page.read_text()
    if README_START not in text or README_END not in text:
        raise RuntimeError(f"{page.name} has lost its markers {README_START!r} / {README_END!r}: put them back.")
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    page.write_text(head + README_START + "\n" + "\n".join(table) + "\n" + README_END + tail)


def per_seed_section(all_data: dict[str, dict[str, list[Run]]], issues: dict[tuple[str, str, int], list[str]]) -> list[str]:
    """
    Every run's final score and evaluation episode length, its steps and wall-clock time to the env's target, its
    recorded commit and its provenance flags.
    """
    lines = [
        "| env | algo | final score per seed (mean eval episode length) | steps, time to target per seed "
        "| commit recorded | provenance flags |",
        "|---|---|---|---|---|---|",
    ]
    for env, data in all_data.items():
        for algo, runs in data.items():
            if not runs:
                continue
            scores = ", ".join(f"{run['seed']}: {run['scores'][-1]:.1f} ({run['final_length']:.0f})" for run in runs)
            reach = ", ".join(f"{run['seed']}: {fmt_reach(run, SCOPE[env].target)}" for run in runs)
            commits = group_by({run["seed"]: recorded_commit(run) for run in runs})
            flags = group_by({run["seed"]: "; ".join(issues[(env, algo, run["seed"])]) or "none" for run in runs})
            lines.append(f"| {env} | {algo} | {scores} | {reach} | {commits} | {flags} |")
    return lines
