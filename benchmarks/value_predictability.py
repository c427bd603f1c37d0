"""
How well can a value head predict Monte Carlo returns from the state alone? (See ``benchmarks/notes.md``,
LunarLander-v3.)

Collects episodes with a fixed policy (REINFORCE's initial ``MlpPolicy``, stochastic actions), computes each step's
discounted reward-to-go, and fits the policy's value head to the training episodes with full-batch Adam (as SB3's
policy optimizer: eps 1e-5). It prints the explained variance on the training episodes and on held-out episodes of
the same policy. A held-out explained variance near 0 means the returns are mostly noise given the state, so no
state-value baseline can remove much of their variance.

Usage::

    python benchmarks/value_predictability.py --env LunarLander-v3 --gamma 0.99 --learning-rate 3e-3
"""

import argparse

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.utils import explained_variance

from sb3_reinforce import REINFORCE


def collect(model: REINFORCE, env: gym.Env, n_episodes: int, seed: int, gamma: float) -> tuple[th.Tensor, th.Tensor]:
    """Observations and discounted rewards-to-go of ``n_episodes`` episodes (env seeds ``seed``, ``seed + 1``...)."""
    observations, returns = [], []
    for episode in range(n_episodes):
        obs, _ = env.reset(seed=seed + episode)
        rewards, done = [], False
        while not done:
            action, _ = model.predict(obs, deterministic=False)
            observations.append(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(float(reward))
            done = terminated or truncated
        to_go = np.zeros(len(rewards))
        running = 0.0
        for t in reversed(range(len(rewards))):
            running = rewards[t] + gamma * running
            to_go[t] = running
        returns.append(to_go)
    return th.as_tensor(np.array(observations), dtype=th.float32), th.as_tensor(np.concatenate(returns), dtype=th.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--train-episodes", type=int, default=60)
    parser.add_argument("--test-episodes", type=int, default=30)
    parser.add_argument("--steps", type=int, default=2000, help="full-batch gradient steps")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)

    model = REINFORCE("MlpPolicy", args.env, seed=args.seed, device="cpu")
    env = gym.make(args.env)
    x_train, y_train = collect(model, env, args.train_episodes, args.seed, args.gamma)
    x_test, y_test = collect(model, env, args.test_episodes, args.seed + 10_000, args.gamma)
    print(
        f"{args.env} gamma={args.gamma}: {len(y_train)} training steps, {len(y_test)} held-out steps, "
        f"return mean {y_train.mean():.1f} std {y_train.std():.1f}"
    )
    optimizer = th.optim.Adam(model.policy.parameters(), lr=args.learning_rate, eps=1e-5)
    for step in range(1, args.steps + 1):
        values = model.policy.predict_values(x_train).flatten()
        loss = ((values - y_train) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in (1, 10, 100, 500, 1000, 2000) or step == args.steps:
            with th.no_grad():
                train_ev = explained_variance(model.policy.predict_values(x_train).flatten().numpy(), y_train.numpy())
                test_ev = explained_variance(model.policy.predict_values(x_test).flatten().numpy(), y_test.numpy())
            print(f"step {step}: explained variance, training {train_ev:.3f}, held-out {test_ev:.3f}", flush=True)


if __name__ == "__main__":
    main()
