"""Collecting rollouts: n_steps or n_episodes per rollout, and every step of an episode cut by rollouts used once."""

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from tests.helpers import FixedRewardEnv


class UpdateCounter(BaseCallback):
    def __init__(self):
        super().__init__()
        self.episodes: list[int] = []
        self.steps: list[int] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.episodes.append(self.model.rollout_buffer.batch_episodes)
        self.steps.append(self.locals["n_steps"])


def test_n_episodes_mode() -> None:
    # episodes of 7 steps in 3 envs: 5 episodes end only after 14 steps per env (6 episodes)
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0] * 7)] * 3)
    model = REINFORCE("MlpPolicy", env, n_steps=4, n_episodes=5, seed=0, baseline=None)
    counter = UpdateCounter()
    model.learn(14 * 3 * 2, callback=counter)
    assert counter.steps == [14, 14]
    assert counter.episodes == [6, 6]


def test_nothing_lost_every_transition_used_once() -> None:
    """Episodes longer than n_steps: every step of every ended episode is in exactly one update."""
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0] * 13), lambda: FixedRewardEnv([1.0] * 5)])
    seen: list[tuple[int, int]] = []

    class Seen(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            for batch in self.model.rollout_buffer.get():
                for length, (_, step) in zip(
                    # episode length tells the env apart
                    np.bincount(batch.episode_ids.cpu().numpy())[batch.episode_ids.cpu().numpy()],
                    batch.observations.cpu().numpy().astype(int),
                    strict=True,
                ):
                    seen.append((int(length), int(step)))

    model = REINFORCE("MlpPolicy", env, n_steps=4, seed=0, baseline=None)
    model.learn(4 * 2 * 20, callback=Seen())
    n_per_env = 4 * 20
    for length in (13, 5):
        steps = sorted(step for env_len, step in seen if env_len == length)
        # global_step of obs is the count *before* the step, 0-based: all steps of ended episodes
        n_ended = (n_per_env // length) * length
        assert steps == list(range(n_ended)), length
    assert model.rollout_buffer.n_pending == sum(n_per_env - (n_per_env // length) * length for length in (13, 5))
