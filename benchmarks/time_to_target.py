"""
The ``time-to-target`` benchmark of ``throughput.py``::

    python benchmarks/throughput.py time-to-target

Env steps and wall-clock seconds until CartPole-v1 is solved, side by side, in one process, one torch thread:
``reinforce`` (REINFORCE's constructor defaults), ``reinforce_joint`` (the same with the value head fitted jointly,
``n_critic_updates=None``), ``reinforce_5passes`` (the former default critic), ``a2c`` and ``ppo``
(SB3's, constructor defaults), each at every ``--n-envs-list`` (default 1 and 8;
``make_vec_env("CartPole-v1", n_envs=n, seed=seed)``, model ``seed=seed``).
The defaults of ``--target``, ``--eval-freq`` and ``--max-steps`` are CartPole-v1's in ``SCOPE`` (``common.py``).
Every ``--eval-freq`` env steps (default 5,000) the clock pauses for a deterministic evaluation of
``--eval-episodes`` episodes (default 10; SB3's ``evaluate_policy`` on a separate env made with the same seed, as
the Zoo's ``EvalCallback``); a run stops at the first evaluation whose mean reaches ``--target`` (default 475), or
at ``--max-steps`` (default 100,000: not reached, with its best score). The clock starts when ``learn()`` sets the
callback up and leaves the evaluations out. Runs are interleaved: for each seed (default 0-4; 100 and up are
tuning seeds, refused), every n_envs in turn, the algorithms one after the other, in an order rotated by the seed
(seed 1 starts with the second). Per algorithm and n_envs, the summary gives the steps and seconds to the target
over seeds (median, min, max; null: not reached, a run that missed counting as infinite) and how many seeds reached
it.

The output file (default ``benchmarks/time_to_target.json``; ``analyze.py`` shows its summary in RESULTS.md) is
rewritten after every run, and resumed: runs already in it (algo, n_envs, seed) are skipped, if its settings and
commit are this call's. It holds ``commit``, ``dirty_files``, ``system``, ``commands`` (each call that added
runs), ``settings``, ``summary`` and ``runs`` (one row per run, with all its evaluations: ``[steps, seconds,
mean, std]``). A dirty tree is refused unless ``--allow-dirty``. Measure alone on the machine: its wall-clock
seconds are the point.
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from common import BENCH_DIR, dirty_files, git_commit, system_info
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce import REINFORCE

TARGET_ENV = "CartPole-v1"
#: The configurations timed to the target, by name: class and arguments (constructor defaults, but for the joint fit)
TARGET_ALGOS: dict[str, tuple[type[BaseAlgorithm], dict[str, Any]]] = {
    "reinforce": (REINFORCE, {}),
    "reinforce_joint": (REINFORCE, {"n_critic_updates": None}),
    "reinforce_5passes": (REINFORCE, {"n_critic_updates": 5, "vf_learning_rate": 1e-3}),
    "a2c": (A2C, {}),
    "ppo": (PPO, {}),
}
#: Seeds from this one up are tuning seeds, never reported
FIRST_TUNING_SEED = 100
#: The settings that the runs of one output file share (resuming checks them)
TARGET_SETTINGS = ("env", "target", "eval_freq", "max_steps", "n_eval_episodes")


class EvaluateToTarget(BaseCallback):
    """
    A deterministic evaluation every ``eval_freq`` env steps and at ``max_steps``, with the training clock paused;
    training stops at the first evaluation whose mean reaches ``target``, or at ``max_steps``.

    The clock starts when ``learn()`` sets the callback up (after the env's first reset). ``evaluations`` holds one
    ``[steps, seconds, mean, std]`` per evaluation: env steps trained, seconds of training (evaluations left out),
    and the mean and standard deviation of the episode returns.

    :param eval_env: the env to evaluate on (its episodes end: ``evaluate_policy`` counts whole episodes)
    :param target: stop at the first evaluation whose mean is at least this
    :param eval_freq: env steps between two evaluations (summed over the training envs)
    :param max_steps: evaluate and stop at the first step at or past this many env steps
    :param n_eval_episodes: episodes per evaluation
    """

    def __init__(self, eval_env: VecEnv, target: float, eval_freq: int, max_steps: int, n_eval_episodes: int = 10):
        super().__init__()
        self.eval_env = eval_env
        self.target, self.eval_freq, self.max_steps, self.n_eval_episodes = target, eval_freq, max_steps, n_eval_episodes
        self.next_eval = eval_freq
        self.clock_start = 0.0
        self.eval_seconds = 0.0
        self.evaluations: list[list[float]] = []

    def _init_callback(self) -> None:
        self.clock_start = time.perf_counter()

    def training_seconds(self) -> float:
        """Seconds since the clock started, less the evaluations."""
        return time.perf_counter() - self.clock_start - self.eval_seconds

    def _on_step(self) -> bool:
        if self.num_timesteps < min(self.next_eval, self.max_steps):
            return True
        seconds, paused = self.training_seconds(), time.perf_counter()
        returns, _ = evaluate_policy(
            self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes, deterministic=True, return_episode_rewards=True
        )
        mean = round(float(np.mean(returns)), 3)
        self.evaluations.append([self.num_timesteps, round(seconds, 3), mean, round(float(np.std(returns)), 3)])
        self.next_eval = (self.num_timesteps // self.eval_freq + 1) * self.eval_freq
        self.eval_seconds += time.perf_counter() - paused
        return mean < self.target and self.num_timesteps < self.max_steps


def run_to_target(
    algo: str, n_envs: int, seed: int, target: float, eval_freq: int, max_steps: int, n_eval_episodes: int
) -> dict[str, Any]:
    """
    Train one configuration of ``TARGET_ALGOS`` on ``TARGET_ENV`` until its evaluation reaches ``target`` (see
    ``EvaluateToTarget``), on one torch thread.

    :param algo: a key of ``TARGET_ALGOS``
    :param n_envs: training envs
    :param seed: seed of the training envs, the model and the evaluation env
    :param target: the mean evaluation return to reach
    :param eval_freq: env steps between two evaluations
    :param max_steps: the cap on env steps
    :param n_eval_episodes: episodes per evaluation
    :return: the run's row: ``reached``, ``steps_to_target`` and ``seconds_to_target`` (None if not reached),
        ``best_score`` and ``best_at`` (env steps), ``steps`` and ``train_s`` (the whole run, evaluations left out),
        ``eval_s``, and ``evaluations`` (``[steps, seconds, mean, std]`` each)
    """
    th.set_num_threads(1)
    algo_class, kwargs = TARGET_ALGOS[algo]
    env = make_vec_env(TARGET_ENV, n_envs=n_envs, seed=seed)
    model = algo_class("MlpPolicy", env, seed=seed, device="cpu", **kwargs)
    callback = EvaluateToTarget(make_vec_env(TARGET_ENV, n_envs=1, seed=seed), target, eval_freq, max_steps, n_eval_episodes)
    model.learn(max_steps, callback=callback)
    train_s = callback.training_seconds()
    reached = next((evaluation for evaluation in callback.evaluations if evaluation[2] >= target), None)
    best = max(callback.evaluations, key=lambda evaluation: evaluation[2])
    return {
        "algo": algo,
        "n_envs": n_envs,
        "seed": seed,
        "reached": reached is not None,
        "steps_to_target": None if reached is None else int(reached[0]),
        "seconds_to_target": None if reached is None else reached[1],
        "best_score": best[2],
        "best_at": int(best[0]),
        "steps": model.num_timesteps,
        "train_s": round(train_s, 3),
        "eval_s": round(callback.eval_seconds, 3),
        "evaluations": callback.evaluations,
    }


def rotated(items: list[str], shift: int) -> list[str]:
    """``items`` rotated left by ``shift``: ``rotated(["a", "b", "c"], 1) == ["b", "c", "a"]``."""
    shift %= len(items)
    return items[shift:] + items[:shift]


def spread(values: list[float | None]) -> dict[str, float | None]:
    """Median, min and max of values where None is "not reached" (infinite); None again where it is infinite."""
    finite = np.array([np.inf if value is None else value for value in values], dtype=float)
    stats = {"median": np.median(finite), "min": finite.min(), "max": finite.max()}
    return {key: float(value) if np.isfinite(value) else None for key, value in stats.items()}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    Per algorithm (in ``TARGET_ALGOS``'s order) and n_envs: its seeds, how many reached the target, and the
    ``spread`` of its steps and seconds to the target.
    """
    keys = sorted({(row["algo"], row["n_envs"]) for row in rows}, key=lambda key: (list(TARGET_ALGOS).index(key[0]), key[1]))
    summary = []
    for algo, n_envs in keys:
        runs = sorted((row for row in rows if (row["algo"], row["n_envs"]) == (algo, n_envs)), key=lambda row: row["seed"])
        summary.append(
            {
                "algo": algo,
                "n_envs": n_envs,
                "seeds": [row["seed"] for row in runs],
                "reached": sum(row["reached"] for row in runs),
                "steps_to_target": spread([row["steps_to_target"] for row in runs]),
                "seconds_to_target": spread([row["seconds_to_target"] for row in runs]),
            }
        )
    return summary


def previous_runs(path: Path, settings: dict[str, Any], commit: str) -> tuple[list[dict[str, Any]], list[str]]:
    """
    The runs and commands already in the output file, to resume from; none if it does not exist.

    :raise RuntimeError: if its settings or its commit differ from this call's, naming them and the fix
    """
    if not path.exists():
        return [], []
    previous = json.loads(path.read_text())
    for key in TARGET_SETTINGS:
        if previous["settings"][key] != settings[key]:
            raise RuntimeError(
                f"{path} holds runs with {key}={previous['settings'][key]!r}, not {settings[key]!r}: "
                "pass another --output, or delete it to start over."
            )
    if previous["commit"] != commit:
        raise RuntimeError(
            f"{path} holds runs of commit {previous['commit']}, this tree is {commit}: "
            "pass another --output, or delete it to start over."
        )
    return previous["runs"], previous["commands"]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run every (algo, n_envs, seed) not in ``args.output`` yet, interleaved, rewriting the file after each run."""
    if any(seed >= FIRST_TUNING_SEED for seed in args.seeds):
        raise ValueError(f"--seeds: seeds {FIRST_TUNING_SEED} and up are tuning seeds; report on seeds 0-9.")
    dirty = dirty_files()
    if dirty and not args.allow_dirty:
        raise RuntimeError(
            "refusing to measure from a dirty tree: these files differ from HEAD: "
            + ", ".join(dirty)
            + ". Commit them first, or pass --allow-dirty (the file records them)."
        )
    settings = {
        "env": TARGET_ENV,
        "target": args.target,
        "eval_freq": args.eval_freq,
        "max_steps": args.max_steps,
        "n_eval_episodes": args.eval_episodes,
        "algos": {
            algo: {"class": algo_class.__name__, "kwargs": kwargs} for algo, (algo_class, kwargs) in TARGET_ALGOS.items()
        },
        "torch_threads": 1,
    }
    commit, output = git_commit(), Path(args.output) if args.output else BENCH_DIR / "time_to_target.json"
    rows, commands = previous_runs(output, settings, commit)
    command = (
        f"python benchmarks/throughput.py time-to-target --seeds {' '.join(map(str, args.seeds))} "
        f"--n-envs-list {' '.join(map(str, args.n_envs_list))} --algos {' '.join(args.algos)} --target {args.target:g} "
        f"--eval-freq {args.eval_freq} --max-steps {args.max_steps} --eval-episodes {args.eval_episodes}"
        f"{' --allow-dirty' if args.allow_dirty else ''}{f' --output {args.output}' if args.output else ''}"
    )
    done = {(row["algo"], row["n_envs"], row["seed"]) for row in rows}
    result: dict[str, Any] = {}
    for seed in args.seeds:
        for n_envs in args.n_envs_list:
            for position, algo in enumerate(rotated(list(args.algos), seed)):
                if (algo, n_envs, seed) in done:
                    continue
                row = run_to_target(algo, n_envs, seed, args.target, args.eval_freq, args.max_steps, args.eval_episodes)
                rows.append({**row, "position": position})
                print({key: value for key, value in row.items() if key != "evaluations"}, flush=True)
                if command not in commands:
                    commands.append(command)
                result = {
                    "commit": commit,
                    "dirty_files": dirty,
                    "system": system_info(),
                    "commands": commands,
                    "settings": settings,
                    "summary": summarize(rows),
                    "runs": rows,
                }
                partial = output.with_suffix(".json.partial")
                partial.write_text(json.dumps(result, indent=2) + "\n")
                partial.replace(output)
    return result or json.loads(output.read_text())
