"""
Turn the benchmark data (``benchmarks/data``, written by ``run_benchmarks.py``) into ``benchmarks/RESULTS.md``
and learning-curve figures (``benchmarks/figures/``).

Usage::

    python benchmarks/analyze.py

Statistics come from rliable: the interquartile mean (IQM) over seeds of the final deterministic evaluation
(mean of 10 episodes), with a 95% stratified bootstrap confidence interval; learning curves show the mean over
seeds with a 95% bootstrap band, against env steps and against wall-clock time.
"""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rliable import library as rly
from rliable import metrics
from run_benchmarks import ALGOS, DATA_DIR, SCOPE

BENCH_DIR = Path(__file__).resolve().parent
FIGURES = BENCH_DIR / "figures"
COLORS = {"reinforce": "tab:red", "a2c": "tab:blue", "ppo": "tab:green"}
TARGETS = {
    "CartPole-v1": 475.0,
    "Acrobot-v1": -85.0,
    "LunarLander-v3": 200.0,
    "Pendulum-v1": -250.0,
    "HalfCheetah-v5": 1000.0,
    "Hopper-v5": 800.0,
}
REPS = 2000
# Fixed bootstrap seed: rerunning analyze.py on the same data gives the same CIs. rliable's StratifiedBootstrap
# draws from NumPy's global generator (its random_state argument does not reach update_indices), so it is seeded
# before each call.
BOOTSTRAP_SEED = 0


def load_runs(env: str, algo: str) -> list[dict]:
    runs = []
    for folder in sorted((DATA_DIR / env / algo).glob("seed*")):
        if not (folder / "evaluations.npz").exists() or not (folder / "done.json").exists():
            continue
        evaluations = np.load(folder / "evaluations.npz")
        done = json.loads((folder / "done.json").read_text())
        time_csv = np.loadtxt(folder / "time.csv", delimiter=",", skiprows=1, ndmin=2)
        runs.append(
            {
                "seed": int(folder.name[4:]),
                "timesteps": evaluations["timesteps"],
                "scores": evaluations["results"].mean(axis=1),
                "time_at": lambda steps, t=time_csv: np.interp(steps, t[:, 0], t[:, 1]),
                **done,
            }
        )
    return runs


def first_reach(run: dict, threshold: float) -> float:
    reached = np.flatnonzero(run["scores"] >= threshold)
    return float(run["timesteps"][reached[0]]) if len(reached) else float("inf")


def interval(scores: np.ndarray, func) -> tuple[float, float, float]:
    np.random.seed(BOOTSTRAP_SEED)
    point, ci = rly.get_interval_estimates({"x": scores.reshape(-1, 1)}, func, reps=REPS)
    low, high = np.ravel(ci["x"])
    return float(np.ravel(point["x"])[0]), float(low), float(high)


def fmt_steps(value: float) -> str:
    return "not reached" if not np.isfinite(value) else f"{value / 1000:.0f}k"


def _mean_per_point(scores: np.ndarray) -> np.ndarray:
    """Mean over runs at every evaluation point; ``scores`` is (runs, 1 task, points)."""
    return scores.mean(axis=(0, 1))


def curves(env: str, data: dict[str, list[dict]], system: dict[str, str]) -> Path:
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


def main() -> None:
    system = json.loads((DATA_DIR / "system.json").read_text()) if (DATA_DIR / "system.json").exists() else {}
    lines = [
        "# Benchmark results: REINFORCE vs A2C vs PPO",
        "",
        "Generated by `python benchmarks/analyze.py` from the per-seed data in `benchmarks/data/`, which",
        "`python benchmarks/run_benchmarks.py --jobs 2` wrote (each run's exact command is in its `done.json`).",
        "Same budget per env for the three algorithms (`-n` overrides the Zoo's `n_timesteps`); A2C and PPO use the",
        "RL Zoo's tuned hyperparameters, REINFORCE `sb3_reinforce/hyperparams/reinforce.yml`. Evaluation: the Zoo's",
        "`EvalCallback`, 10 deterministic episodes on 1 env. Final score = the last evaluation. IQM and its 95% CI:",
        f"rliable, stratified bootstrap ({REPS} reps). Runs were 2 at a time, one torch thread each.",
        "",
        "System: " + ", ".join(f"{key} {value}" for key, value in system.items()),
        "",
        "| env | algo | seeds | final IQM [95% CI] | final mean ± std | steps to threshold (median) "
        "| wall-clock / run | steps/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    figures = []
    for env in SCOPE:
        data = {algo: load_runs(env, algo) for algo in ALGOS}
        if not any(data.values()):
            lines.append(f"| {env} | — | 0 | not run yet | | | | |")
            continue
        threshold = SCOPE[env][3]
        for algo, runs in data.items():
            if not runs:
                lines.append(f"| {env} | {algo} | 0 | not run yet | | | | |")
                continue
            final = np.array([run["scores"][-1] for run in runs])
            iqm, low, high = interval(final, metrics.aggregate_iqm)
            reach = np.median([first_reach(run, threshold) for run in runs]) if threshold is not None else float("nan")
            wall = np.median([run["wall_clock_s"] for run in runs])
            fps = np.median([run["steps_per_s"] for run in runs])
            reach_text = fmt_steps(reach) if threshold is not None else "—"
            lines.append(
                f"| {env} | {algo} | {len(runs)} | {iqm:.1f} [{low:.1f}, {high:.1f}] | {final.mean():.1f} ± {final.std():.1f} "
                f"| {reach_text} | {wall / 60:.1f} min | {fps:.0f} |"
            )
        figures.append(curves(env, data, system))
    lines += [
        "",
        "## Targets for REINFORCE",
        "",
        "| env | target (IQM of final eval) | reached | status |",
        "|---|---|---|---|",
    ]
    for env, target in TARGETS.items():
        runs = load_runs(env, "reinforce")
        if not runs:
            lines.append(f"| {env} | ≥ {target:g} | — | not run yet |")
            continue
        iqm, _, _ = interval(np.array([run["scores"][-1] for run in runs]), metrics.aggregate_iqm)
        status = "met" if iqm >= target else "missed"
        lines.append(f"| {env} | ≥ {target:g} | {iqm:.1f} | {status} |")
    cartpole = load_runs("CartPole-v1", "reinforce")
    if cartpole:
        reach = np.median([first_reach(run, 475.0) for run in cartpole])
        late = [run["scores"][run["timesteps"] >= 50_000] for run in cartpole]
        never_below = all((scores >= 475).all() for scores in late)
        # The IQM over seeds at each evaluation from 50k steps on
        # (every run has the same evaluation schedule)
        late_iqm = np.array([metrics.aggregate_iqm(column) for column in np.array(late).T])
        lines += [
            "",
            f"CartPole-v1 extra targets: first ≥ 475 by 20k steps (median over seeds): {fmt_steps(reach)} "
            f"({'met' if reach <= 20_000 else 'missed'}). Never below 475 after 50k steps: IQM over seeds at each "
            f"evaluation from 50k on, lowest {np.min(late_iqm):.1f} ({'met' if np.min(late_iqm) >= 475 else 'missed'}); "
            f"every seed: {'met' if never_below else 'missed'} "
            f"({sum((s >= 475).all() for s in late)}/{len(late)} seeds stay ≥ 475).",
        ]
    lines += ["", "## Learning curves", ""] + [f"![{path.stem}](figures/{path.name})" for path in figures]
    notes = BENCH_DIR / "notes.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    (BENCH_DIR / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
