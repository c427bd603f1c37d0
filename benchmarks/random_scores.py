"""
The score of a uniformly random policy on every env of ``SCOPE``: the 0 of ``analyze.py``'s normalized scores
(PPO's IQM is their 1).

Usage::

    python benchmarks/random_scores.py

For each env: ``gym.make(env)``, the action space seeded once (``action_space.seed(seed)``, the ``--seed``), then
``--episodes`` episodes, episode ``i`` reset with ``seed=i`` (0 to ``episodes - 1``), each action
``env.action_space.sample()``, until the episode ends (terminated or truncated by the env's time limit). It writes
the mean, std, min and max of the episode returns per env to ``--output`` (default ``data/random_scores.json``), with
the command, the commit, ``system_info()`` and the date. ``--envs`` runs a subset, and the file written holds only
those envs.
"""

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from common import DATA_DIR, REPO_ROOT, SCOPE, dirty_files, git_commit, system_info

OUTPUT = DATA_DIR / "random_scores.json"


def random_returns(env_id: str, episodes: int, seed: int) -> list[float]:
    """
    The returns of ``episodes`` episodes of a uniformly random policy on ``env_id``.

    :param env_id: a gymnasium env id
    :param episodes: episode ``i`` is reset with ``seed=i``
    :param seed: the action space's seed
    :return: the undiscounted return of each episode
    """
    env = gym.make(env_id)
    env.action_space.seed(seed)
    returns = []
    for episode in range(episodes):
        env.reset(seed=episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def summarize(returns: list[float]) -> dict[str, Any]:
    """The mean, std, min and max of the returns (rounded to 0.01), and their number."""
    values = np.asarray(returns)
    stats = {"mean": values.mean(), "std": values.std(), "min": values.min(), "max": values.max()}
    return {"episodes": len(returns), **{key: round(float(value), 2) for key, value in stats.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(SCOPE), choices=list(SCOPE), help="default: every env of SCOPE")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per env, reset with seeds 0 to episodes - 1")
    parser.add_argument("--seed", type=int, default=0, help="the action space's seed")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: benchmarks/data/random_scores.json")
    args = parser.parse_args()
    output = args.output.resolve()
    shown = output.relative_to(REPO_ROOT) if output.is_relative_to(REPO_ROOT) else output
    result: dict[str, Any] = {
        "command": f"python benchmarks/random_scores.py --envs {' '.join(args.envs)} --episodes {args.episodes} "
        f"--seed {args.seed} --output {shown}",
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "dirty_files": dirty_files(),
        "system": system_info(),
        "policy": "env.action_space.sample(), the action space seeded with --seed; episode i reset with seed=i",
        "scores": {},
    }
    for env_id in args.envs:
        result["scores"][env_id] = summarize(random_returns(env_id, args.episodes, args.seed))
        print(env_id, result["scores"][env_id], flush=True)
    output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
