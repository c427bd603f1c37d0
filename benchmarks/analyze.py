"""
Turn the benchmark data (``benchmarks/data``, written by ``run_benchmarks.py``) into ``benchmarks/RESULTS.md``
and learning-curve figures (``benchmarks/figures/``). RESULTS.md holds only what this script computes from the
data (tables, per-seed values, provenance checks, figure links, commands); the prose is in ``benchmarks/notes.md``,
which it links to, and the results table of README.md and docs/reinforce.md (between their markers). It writes
nothing else.

Usage::

    python benchmarks/analyze.py

Statistics come from rliable: the interquartile mean (IQM) over seeds of the final deterministic evaluation
(mean of 10 episodes), with a 95% stratified bootstrap confidence interval; learning curves show the mean over
seeds with a 95% bootstrap band, against env steps and against wall-clock time.

Time to target: each run's wall-clock seconds at its steps to target (the first evaluation at or above the env's
target in ``SCOPE``), read from its ``time.csv`` (cumulative training steps against wall-clock seconds, at the
training episodes' ends), interpolated linearly. If ``benchmarks/time_to_target.json`` exists (written by
``python benchmarks/throughput.py time-to-target``), RESULTS.md shows its summary table too.

Normalized scores: each run's final score scaled per env between a uniformly random policy (0, the mean return in
``data/random_scores.json``, written by ``python benchmarks/random_scores.py``) and PPO's IQM on that env (1); per
env, the IQM over seeds; over the envs, rliable's IQM of the runs x envs matrix with its stratified bootstrap CI. An
env without a random score, without PPO runs, or where PPO's IQM is not above the random score is left out, with a
line saying why.

Provenance: every run is checked against the current tree. A run is flagged (a warning on stderr, and a mark in
RESULTS.md) when it has no ``provenance.json`` written at its start (the runs made before it existed only have
the commit that ``done.json`` recorded at their end), when it started from a dirty tree, or when its recorded
hash of the algorithm's code or of its hyperparameter entry differs from the current tree's.
"""

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from common import (
    ALGOS,
    BENCH_DIR,
    DATA_DIR,
    REPO_ROOT,
    SCOPE,
    ZOO_ENTRY_ALIASES,
    code_check,
    code_hash,
    entry_hash,
    hyperparams_entry,
    provenance_issues,
)

FIGURES = BENCH_DIR / "figures"
TIME_TO_TARGET = BENCH_DIR / "time_to_target.json"
RANDOM_SCORES = DATA_DIR / "random_scores.json"
# Issue 30's normalized target: REINFORCE's IQM at 0.9 or more of the way from a random policy to PPO's IQM, on at
# least 6 of the 8 envs of SCOPE
NORMALIZED_TARGET, NORMALIZED_TARGET_ENVS = 0.9, 6
COLORS = {"reinforce": "tab:red", "a2c": "tab:blue", "ppo": "tab:green"}
REPS = 2000
# Fixed bootstrap seed: rerunning analyze.py on the same data gives the same CIs. rliable's StratifiedBootstrap
# draws from NumPy's global generator (its random_state argument does not reach update_indices), so it is seeded
# before each call.
BOOTSTRAP_SEED = 0
# CartPole-v1's extra targets: first reach the target by this many steps, and never drop below it after that many
CARTPOLE_REACH_BY = 20_000
CARTPOLE_STAY_FROM = 50_000
# Issue 30's extra targets: LunarLander-v3's IQM CI starts at 150 or more; no Hopper-v5 seed stands still, that is
# ends with evaluation episodes of the full time limit worth at most STANDING_PER_STEP per step (the alive bonus is 1)
LUNAR_CI_LOW_TARGET = 150.0
STANDING_PER_STEP = 1.1
# LunarLander-v3's value-baseline target (issue 13): mean train/explained_variance over the last 200k steps >= 0.5
EXPLAINED_VARIANCE_LAST, EXPLAINED_VARIANCE_TARGET = 200_000, 0.5
# The keys of a Zoo entry that leaves every algorithm argument at SB3's default
UNTUNED_KEYS = {"policy", "n_timesteps", "normalize", "n_envs"}

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


def _mean_per_point(scores: np.ndarray) -> np.ndarray:
    """Mean over runs at every evaluation point; ``scores`` is (runs, 1 task, points)."""
    return scores.mean(axis=(0, 1))


def curves(env: str, data: dict[str, list[Run]], system: dict[str, str]) -> Path:
    from rliable import library as rly

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for algo, runs in data.items():
        if not runs:
            continue
        n = min(len(run["scores"]) for run in runs)
        steps = runs[0]["timesteps"][:n]
        scores = np.stack([run["scores"][:n] for run in runs])  # (n_seeds, n_points)
        mean = scores.mean(axis=0)
        # 95% bootstrap CI of the mean at every evaluation point, from rliable
        np.random.seed(BOOTSTRAP_SEED)
        _, cis = rly.get_interval_estimates({algo: scores[:, None, :]}, _mean_per_point, reps=500)
        low, high = cis[algo]
        label = f"{algo} ({len(runs)} seeds)"
        axes[0].plot(steps, mean, color=COLORS[algo], label=label)
        axes[0].fill_between(steps, low, high, color=COLORS[algo], alpha=0.2)
        wall = np.mean([run["time_at"](steps) for run in runs], axis=0)
        axes[1].plot(wall, mean, color=COLORS[algo], label=label)
        axes[1].fill_between(wall, low, high, color=COLORS[algo], alpha=0.2)
    for ax, xlabel in zip(axes, ("env steps", "wall-clock time (s), mean over seeds"), strict=True):
        ax.set_xlabel(xlabel)
        ax.set_ylabel("deterministic eval return (10 episodes)")
        ax.grid(alpha=0.3)
        ax.legend()
    seeds = sorted({run["seed"] for runs in data.values() for run in runs})
    versions = ", ".join(f"{key} {system.get(key, '?')}" for key in ("sb3_reinforce", "stable_baselines3", "rl_zoo3", "torch"))
    fig.suptitle(
        f"{env}: mean and 95% bootstrap CI over seeds {seeds[0]}-{seeds[-1]}\n"
        f"python benchmarks/run_benchmarks.py --envs {env}; python benchmarks/analyze.py\n{versions}",
        fontsize=9,
    )
    fig.tight_layout()
    FIGURES.mkdir(exist_ok=True)
    path = FIGURES / f"{env}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


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


def against_a2c(reinforce: tuple[float, float, float], a2c: tuple[float, float, float]) -> str:
    """
    Issue 30's target against A2C: REINFORCE's IQM at or above A2C's, or each IQM inside the other's 95% CI.

    :param reinforce: REINFORCE's IQM, CI low, CI high
    :param a2c: A2C's IQM, CI low, CI high
    :return: ``"met"``, ``"met (inside both CIs)"`` or ``"missed"``
    """
    if reinforce[0] >= a2c[0]:
        return "met"
    inside = a2c[1] <= reinforce[0] <= a2c[2] and reinforce[1] <= a2c[0] <= reinforce[2]
    return "met (inside both CIs)" if inside else "missed"


def stands_still(run: Run, max_episode_steps: int) -> bool:
    """The run ends with evaluation episodes of the full time limit, worth at most ``STANDING_PER_STEP`` per step."""
    return run["final_length"] >= max_episode_steps and run["scores"][-1] <= STANDING_PER_STEP * max_episode_steps


def targets_section(all_data: dict[str, dict[str, list[Run]]]) -> list[str]:
    """
    REINFORCE's targets (``SCOPE`` in ``common.py``) and issue 30's target against A2C, met or missed; then
    CartPole-v1's, LunarLander-v3's and Hopper-v5's extra targets.
    """
    import gymnasium as gym

    lines = [
        "| env | target (IQM of final eval) | reached [95% CI] | status | A2C [95% CI] | ≥ A2C, or inside both CIs |",
        "|---|---|---|---|---|---|",
    ]
    reached: dict[str, tuple[float, float, float]] = {}  # REINFORCE's IQM and CI per env with runs
    for env, spec in SCOPE.items():
        runs = all_data[env]["reinforce"]
        if not runs:
            lines.append(f"| {env} | ≥ {spec.target:g} | — | not run yet | | |")
            continue
        ours = reached[env] = interval(np.array([run["scores"][-1] for run in runs]), aggregate_iqm)
        a2c_runs = all_data[env]["a2c"]
        theirs = interval(np.array([run["scores"][-1] for run in a2c_runs]), aggregate_iqm) if a2c_runs else None
        status = "met" if ours[0] >= spec.target else "missed"
        a2c_cells = f"{fmt_interval(theirs)} | {against_a2c(ours, theirs)}" if theirs else "not run | —"
        lines.append(f"| {env} | ≥ {spec.target:g} | {fmt_interval(ours)} | {status} | {a2c_cells} |")
    lunar = all_data["LunarLander-v3"]["reinforce"]
    if lunar:
        _, low, _ = reached["LunarLander-v3"]
        enough = len(lunar) >= SCOPE["LunarLander-v3"].n_seeds
        lines += [
            "",
            f"LunarLander-v3 extra target: the lower end of the IQM's 95% CI ≥ {LUNAR_CI_LOW_TARGET:g} over "
            f"{SCOPE['LunarLander-v3'].n_seeds} seeds: {low:.1f} over {len(lunar)} "
            f"({'met' if enough and low >= LUNAR_CI_LOW_TARGET else 'missed'}).",
        ]
    hopper = all_data["Hopper-v5"]["reinforce"]
    if hopper:
        limit = gym.spec("Hopper-v5").max_episode_steps
        assert limit is not None, "gymnasium registers Hopper-v5 with a time limit of 1000 steps"
        standing = [run["seed"] for run in hopper if stands_still(run, limit)]
        lines += [
            "",
            f"Hopper-v5 extra target: no seed standing still (final evaluation episodes of all {limit} steps, at most "
            f"{STANDING_PER_STEP:g} per step): seeds standing: {seed_list(standing) if standing else 'none'} "
            f"({'met' if not standing else 'missed'}).",
        ]
    cartpole = all_data["CartPole-v1"]["reinforce"]
    if cartpole:
        target = SCOPE["CartPole-v1"].target
        reach = np.median([first_reach(run, target) for run in cartpole])
        late = [run["scores"][run["timesteps"] >= CARTPOLE_STAY_FROM] for run in cartpole]
        stay = sum(bool((scores >= target).all()) for scores in late)
        # The IQM over seeds at each evaluation from CARTPOLE_STAY_FROM on (every run has the same schedule)
        late_iqm = np.array([aggregate_iqm(column) for column in np.array(late).T])
        lines += [
            "",
            f"CartPole-v1 extra targets: first ≥ {target:g} by {fmt_steps(CARTPOLE_REACH_BY)} steps (median over seeds): "
            f"{fmt_steps(reach)} ({'met' if reach <= CARTPOLE_REACH_BY else 'missed'}). Never below {target:g} after "
            f"{fmt_steps(CARTPOLE_STAY_FROM)} steps: IQM over seeds at each evaluation from then on, lowest "
            f"{np.min(late_iqm):.1f} ({'met' if np.min(late_iqm) >= target else 'missed'}); every seed: "
            f"{'met' if stay == len(late) else 'missed'} ({stay}/{len(late)} seeds stay ≥ {target:g}).",
        ]
    return lines


def value_fit_section(all_data: dict[str, dict[str, list[Run]]]) -> list[str]:
    """The mean ``train/explained_variance`` over each run's last steps, where the run's log was collected."""
    lines = [
        f"Mean of `train/explained_variance` (one value per update, from the training log) over the last "
        f"{fmt_steps(EXPLAINED_VARIANCE_LAST)} steps of each run whose log was collected; the issue-13 target for "
        f"LunarLander-v3 is a mean ≥ {EXPLAINED_VARIANCE_TARGET:g}.",
        "",
        "| env | algo | per seed | mean over seeds |",
        "|---|---|---|---|",
    ]
    for env, data in all_data.items():
        for algo, runs in data.items():
            means = {}
            for run in runs:
                if run["explained_variance"] is not None:
                    steps, values = run["explained_variance"].T
                    means[run["seed"]] = float(values[steps > steps.max() - EXPLAINED_VARIANCE_LAST].mean())
            if means:
                per_seed = ", ".join(f"{seed}: {value:.2f}" for seed, value in means.items())
                lines.append(f"| {env} | {algo} | {per_seed} | {np.mean(list(means.values())):.2f} |")
    return lines


def load_random_scores(path: Path = RANDOM_SCORES) -> dict[str, float]:
    """The mean return of a random policy per env, from ``random_scores.py``'s output; empty if it does not exist."""
    if not path.exists():
        return {}
    return {env: float(entry["mean"]) for env, entry in json.loads(path.read_text())["scores"].items()}


def normalize(scores: np.ndarray, random: float, reference: float) -> np.ndarray:
    """``(scores - random) / (reference - random)``: 0 at the random policy's score, 1 at the reference's."""
    return (np.asarray(scores, dtype=float) - random) / (reference - random)


def normalized_scores(
    all_data: dict[str, dict[str, list[Run]]], random_scores: dict[str, float]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """
    Every run's final score normalized between a random policy (0) and PPO's IQM over seeds (1), per env.

    :param all_data: the runs per env and algorithm (``load_runs``), all of them: flagged runs included
    :param random_scores: the random policy's mean return per env (``load_random_scores``)
    :return: per env that can be normalized, per algorithm, the normalized final scores of its runs in seed order
        (empty for an algorithm without runs); and per env left out, why (no random score, no PPO runs, or PPO's IQM
        not above the random score)
    """
    normalized: dict[str, dict[str, np.ndarray]] = {}
    left_out: dict[str, str] = {}
    for env, data in all_data.items():
        ppo = data.get("ppo", [])
        if env not in random_scores:
            left_out[env] = f"no random score in {RANDOM_SCORES.name}"
            continue
        if not ppo:
            left_out[env] = "no PPO runs"
            continue
        random, reference = random_scores[env], aggregate_iqm(np.array([run["scores"][-1] for run in ppo]))
        if reference <= random:
            left_out[env] = f"PPO's IQM ({reference:.1f}) is not above the random policy's score ({random:.1f})"
            continue
        normalized[env] = {
            algo: normalize(np.array([run["scores"][-1] for run in runs]), random, reference) for algo, runs in data.items()
        }
    return normalized, left_out


def normalized_section(all_data: dict[str, dict[str, list[Run]]], random_scores: dict[str, float]) -> list[str]:
    """
    RESULTS.md's normalized summary: per env, the random score, PPO's IQM and each algorithm's normalized IQM over
    its seeds; then each algorithm's IQM over the envs where the three have runs, with its 95% CI; REINFORCE's count
    of envs at ``NORMALIZED_TARGET`` or more; a line per env left out.
    """
    normalized, left_out = normalized_scores(all_data, random_scores)
    lines = [
        f"Each run's final score, normalized per env: (score - random) / (PPO's IQM - random), where random is the mean "
        f"return of a uniformly random policy over 100 episodes ([data/{RANDOM_SCORES.name}](data/{RANDOM_SCORES.name}), "
        "`python benchmarks/random_scores.py`): 0 is the random policy, 1 is PPO's IQM. Per env, the IQM over all its "
        "seeds; last row, rliable's IQM over the runs x envs matrix, 95% stratified bootstrap CI "
        f"({REPS} reps, seed {BOOTSTRAP_SEED}). All committed runs are used, the ones flagged for provenance included "
        "(as in *Final scores*).",
        "",
        f"| env | random | PPO IQM | {' | '.join(ALGOS)} | reinforce ≥ {NORMALIZED_TARGET:g} |",
        f"|---|---|---|{'---|' * len(ALGOS)}---|",
    ]
    reached = 0
    for env, scores in normalized.items():
        ppo = aggregate_iqm(np.array([run["scores"][-1] for run in all_data[env]["ppo"]]))
        cells = [f"{aggregate_iqm(scores[algo]):.2f}" if len(scores[algo]) else "not run" for algo in ALGOS]
        met = len(scores["reinforce"]) > 0 and aggregate_iqm(scores["reinforce"]) >= NORMALIZED_TARGET
        reached += met
        status = "not run" if not len(scores["reinforce"]) else "yes" if met else "no"
        lines.append(f"| {env} | {random_scores[env]:.1f} | {ppo:.1f} | {' | '.join(cells)} | {status} |")
    # rliable needs the same number of runs on every env: the first n seeds of each, n the fewest any algorithm has
    common = [env for env, scores in normalized.items() if all(len(scores[algo]) for algo in ALGOS)]
    if common:
        n = min(len(normalized[env][algo]) for env in common for algo in ALGOS)
        cells = []
        for algo in ALGOS:
            iqm, low, high = interval(np.stack([normalized[env][algo][:n] for env in common], axis=1), aggregate_iqm)
            cells.append(f"{iqm:.2f} [{low:.2f}, {high:.2f}]")
        lines.append(f"| IQM over {len(common)} envs (first {n} seeds of each) | | | {' | '.join(cells)} | |")
    lines += [
        "",
        f"REINFORCE at {NORMALIZED_TARGET:g} or more on {reached} of the {len(SCOPE)} envs of `SCOPE` (issue 30's target: "
        f"at least {NORMALIZED_TARGET_ENVS}; an env left out counts as not reached). The last row uses the envs where "
        "the three algorithms have runs, and on each the first seeds, as many as the fewest runs any of them has there "
        "(rliable's bootstrap needs the same number of runs per env).",
    ]
    missing = [env for env in normalized if env not in common]
    notes = [f"- Not in the last row (an algorithm has no runs): {', '.join(missing)}."] if missing else []
    notes += [f"- Left out, {env}: {reason}." for env, reason in left_out.items()]
    return [*lines, "", *notes] if notes else lines


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


def fmt_reach(run: Run, threshold: float) -> str:
    """``"15k in 21 s"``: the run's steps and wall-clock time to ``threshold``; ``"not reached"``."""
    steps = first_reach(run, threshold)
    return f"{fmt_steps(steps)} in {fmt_seconds(time_to_target(run, threshold))}" if np.isfinite(steps) else "not reached"


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


def main() -> None:
    system = json.loads((DATA_DIR / "system.json").read_text()) if (DATA_DIR / "system.json").exists() else {}
    all_data = {env: {algo: load_runs(env, algo) for algo in ALGOS} for env in SCOPE}
    issues = check_provenance(all_data)
    flagged: dict[tuple[str, str], int] = {}
    for (env, algo, _), run_issues in issues.items():
        flagged[(env, algo)] = flagged.get((env, algo), 0) + bool(run_issues)
    figures = [curves(env, data, system) for env, data in all_data.items() if any(data.values())]
    envs = " ".join(SCOPE)
    lines = [
        "# Benchmark results: REINFORCE vs A2C vs PPO",
        "",
        "Generated by `python benchmarks/analyze.py` from the per-seed data in `benchmarks/data/` (do not edit by",
        "hand). How these runs are made, their provenance and known limitations: [notes.md](notes.md).",
        "",
        "Same budget per env for the three algorithms (`-n` overrides each file's `n_timesteps`). A2C and PPO use the",
        "RL Zoo's own hyperparameter files (see the marks in the table), REINFORCE `sb3_reinforce/hyperparams/reinforce.yml`.",
        "Evaluation: the Zoo's `EvalCallback`, 10 deterministic episodes on 1 env. Final score = the last evaluation.",
        f"IQM and its 95% CI: rliable, stratified bootstrap ({REPS} reps, seed {BOOTSTRAP_SEED}).",
        "",
        "System (`data/system.json`, written by the last call of the runner): "
        + ", ".join(f"{key} {value}" for key, value in system.items()),
        "",
        "Commands: `python benchmarks/run_benchmarks.py --envs ENV --jobs 2` (envs: " + envs + "; `--algos`,",
        "`--seeds` for a subset), then `python benchmarks/analyze.py`. Each run's exact command is in its `done.json`.",
        "",
        "## Final scores",
        "",
        *results_table(all_data, flagged),
        "",
        "## Normalized scores",
        "",
        *normalized_section(all_data, load_random_scores()),
        "",
        *side_by_side_section(),
        "## Targets for REINFORCE",
        "",
        *targets_section(all_data),
        "",
        "## Fit of the value baseline",
        "",
        *value_fit_section(all_data),
        "",
        "## Per-seed final scores, time to target and provenance",
        "",
        "Provenance flags: *recorded at end, not at start*: the run has no `provenance.json` (written when a run",
        "starts, since it exists); its only record is the commit that `done.json` took when the run ended, so the",
        "code and hyperparameters it started from are not proven. *dirty*: the tree differed from that commit.",
        "*code / hyperparameter entry differs from this tree*: the hashes recorded at start differ from the current",
        "tree's.",
        "",
        *per_seed_section(all_data, issues),
        "",
        "## Learning curves",
        "",
        *[f"![{path.stem}](figures/{path.name})" for path in figures],
    ]
    (BENCH_DIR / "RESULTS.md").write_text("\n".join(lines) + "\n")
    for page, root in TABLE_PAGES.items():
        write_table(page, readme_table(all_data, root))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
