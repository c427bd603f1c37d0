"""
A small manual sweep: train REINFORCE with one configuration on a few seeds and print the deterministic
evaluation (mean of 10 episodes) every ``freq`` steps. Used to choose the CartPole-v1 defaults
(see ``benchmarks/notes.md`` for the configurations tried and their output).

Usage::

    python benchmarks/manual_sweep.py '{"n_envs": 8, "n_steps": 32, "learning_rate": 3e-3, "seeds": [0, 1]}'

The JSON holds REINFORCE's arguments plus ``env`` (default CartPole-v1), ``n_envs`` (1), ``budget`` (100k),
``freq`` (10k) and ``seeds`` ([0, 1, 2]); ``"learning_rate": "lin_5e-3"`` is a linear schedule.
"""

import json
import sys
import tempfile
import time

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE


def main() -> None:
    config = json.loads(sys.argv[1])
    env_id = config.pop("env", "CartPole-v1")
    n_envs = config.pop("n_envs", 1)
    budget = config.pop("budget", 100_000)
    freq = config.pop("freq", 10_000)
    seeds = config.pop("seeds", [0, 1, 2])
    learning_rate = config.get("learning_rate")
    if isinstance(learning_rate, str) and learning_rate.startswith("lin_"):
        initial = float(learning_rate[4:])
        config["learning_rate"] = lambda progress: progress * initial
    th.set_num_threads(1)
    for seed in seeds:
        env = make_vec_env(env_id, n_envs=n_envs, seed=seed)
        model = REINFORCE("MlpPolicy", env, seed=seed, device="cpu", **config)
        with tempfile.TemporaryDirectory() as log_path:
            evaluation = EvalCallback(
                make_vec_env(env_id, n_envs=1, seed=100 + seed),
                eval_freq=max(freq // n_envs, 1),
                n_eval_episodes=10,
                log_path=log_path,
                verbose=0,
            )
            start = time.time()
            model.learn(budget, callback=evaluation)
            scores = [int(score) for score in np.mean(evaluation.evaluations_results, axis=1)]
        print(sys.argv[1], f"seed={seed}", scores, f"{time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
