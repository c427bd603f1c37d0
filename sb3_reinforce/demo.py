"""``python -m sb3_reinforce.demo``: train REINFORCE on CartPole-v1, evaluate it, save it, say where."""

import argparse
import os
import time

import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--env", default="CartPole-v1", help="Gymnasium env id")
    parser.add_argument("--timesteps", type=int, default=100_000, help="training budget in env steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="reinforce_cartpole", help="where to save the model (.zip is added)")
    parser.add_argument(
        "--num-threads", type=int, default=1, help="torch threads (1 is fastest for these small networks on a CPU)"
    )
    args = parser.parse_args()
    th.set_num_threads(args.num_threads)

    model = REINFORCE("MlpPolicy", args.env, seed=args.seed, verbose=0)
    start = time.perf_counter()
    model.learn(args.timesteps, progress_bar=True)
    seconds = time.perf_counter() - start
    speed = f"{args.timesteps / seconds:.0f} steps/s, {args.num_threads} torch threads"
    print(f"Trained {args.timesteps} steps in {seconds:.1f} s ({speed})")
    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 1000)
    mean_reward, std_reward = evaluate_policy(model, eval_env, n_eval_episodes=10, deterministic=True)
    print(f"{args.env}: mean reward {mean_reward:.1f} +/- {std_reward:.1f} over 10 deterministic episodes")
    model.save(args.output)
    print(f"Model saved to {os.path.abspath(args.output)}.zip; load it with REINFORCE.load({args.output!r})")


if __name__ == "__main__":
    main()
