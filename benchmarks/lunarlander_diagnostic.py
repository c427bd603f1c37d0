"""
Diagnostic for REINFORCE's slow progress on LunarLander-v3 (see ``benchmarks/notes.md``).

With the packaged LunarLander-v3 entry (value baseline, n_steps 512, 8 envs, lr 5e-4), ``train/explained_variance``
stays near 0 for the whole 1M steps, so the baseline removes little variance. A first guess was that one gradient
step per update cannot make the value head follow returns of magnitude ~100. This script trains with the entry's
values and one of two remedies, and prints the deterministic evaluation (10 episodes), the mean training return
and the last update's explained variance every 50k steps. (Neither remedy raised the explained variance: see the
notes; the guess is at most part of the cause.)

- ``"value_steps": K``: K extra gradient steps on the value loss alone after each update (as Spinning Up's VPG
  does). They change only the value head, fitted on the episodes the policy step has just used, so the baseline
  of the *next* update does not depend on that update's own returns (no bias);
- ``"norm_reward": true``: SB3's ``VecNormalize(norm_obs=False, norm_reward=True)``, which scales the rewards to
  returns of order 1.

Usage::

    PYTHONPATH=. python benchmarks/lunarlander_diagnostic.py '{"n_steps": 512, "learning_rate": 5e-4,
        "baseline": "value", "normalize_advantage": true, "ent_coef": 0.001, "max_grad_norm": 0.5, "norm_reward": true}'

Keys: REINFORCE's arguments, plus ``value_steps`` (0), ``norm_reward`` (false), ``budget`` (300k), ``n_envs`` (8).
Seed 0 for training, 100 for evaluation.
"""

import json
import sys
import time

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_reinforce import REINFORCE


class ExtraValueSteps(REINFORCE):
    """REINFORCE with ``value_steps`` extra value-only gradient steps after each update (diagnostic only)."""

    value_steps = 0

    def train(self) -> None:
        super().train()
        for batch in self.rollout_buffer.get(batch_size=None):
            for _ in range(self.value_steps):
                values = self.policy.predict_values(batch.observations).flatten()  # type: ignore[arg-type]
                loss = self.vf_coef * F.mse_loss(batch.returns, values)
                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()


def main() -> None:
    config = json.loads(sys.argv[1])
    ExtraValueSteps.value_steps = config.pop("value_steps", 0)
    norm_reward = config.pop("norm_reward", False)
    budget = config.pop("budget", 300_000)
    n_envs = config.pop("n_envs", 8)
    th.set_num_threads(1)

    env: VecEnv = make_vec_env("LunarLander-v3", n_envs=n_envs, seed=0)
    if norm_reward:
        env = VecNormalize(env, norm_obs=False, norm_reward=True, gamma=config.get("gamma", 0.99))
    model = ExtraValueSteps("MlpPolicy", env, seed=0, device="cpu", **config)
    eval_env = make_vec_env("LunarLander-v3", n_envs=1, seed=100)
    scores = []
    start = time.time()
    for index in range(budget // 50_000):
        model.learn(50_000, reset_num_timesteps=False)
        mean_eval, _ = evaluate_policy(model, eval_env, 10, deterministic=True)
        assert isinstance(mean_eval, float)
        assert model.ep_info_buffer is not None
        mean_train = float(np.mean([info["r"] for info in model.ep_info_buffer]))
        explained = model.logger.name_to_value.get("train/explained_variance")
        scores.append((int(mean_eval), int(mean_train)))
        print(sys.argv[1], (index + 1) * 50_000, "eval", int(mean_eval), "train", int(mean_train), "ev", explained, flush=True)
    print("FINAL", sys.argv[1], scores, f"{time.time() - start:.0f}s", flush=True)


if __name__ == "__main__":
    main()
