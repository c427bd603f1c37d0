"""The learning-curve figures (``benchmarks/figures/<env>.png``): against env steps and against wall-clock time."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from common import BENCH_DIR
from run_data import BOOTSTRAP_SEED, Run

FIGURES = BENCH_DIR / "figures"
COLORS = {"reinforce": "tab:red", "a2c": "tab:blue", "ppo": "tab:green"}


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
