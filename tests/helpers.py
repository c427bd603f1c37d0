"""Small deterministic envs for the tests."""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class FixedRewardEnv(gym.Env):
    """
    Episodes of ``episode_length`` steps; step k of an episode pays ``rewards[k]``.

    The observation is ``[k, global_step]``: the step index inside the episode and a counter over the whole
    life of the env, so that a test can tell every transition apart.

    :param rewards: reward of each step of an episode (its length is the episode length)
    :param truncate: end episodes by truncation (a time limit) instead of termination
    """

    def __init__(self, rewards: list[float], truncate: bool = False):
        super().__init__()
        self.rewards = list(rewards)
        self.truncate = truncate
        self.observation_space = spaces.Box(low=-np.inf, high=np.inf, shape=(2,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.k = 0
        self.global_step = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.k, self.global_step], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.k = 0
        return self._obs(), {}

    def step(self, action):
        reward = self.rewards[self.k]
        self.k += 1
        self.global_step += 1
        end = self.k == len(self.rewards)
        return self._obs(), reward, end and not self.truncate, end and self.truncate, {}


def discounted_returns(rewards: list[float], gamma: float) -> list[float]:
    """Reward-to-go of every step, by the definition G_t = sum_k gamma^(k-t) r_k (no recursion)."""
    n = len(rewards)
    return [sum(gamma ** (k - t) * rewards[k] for k in range(t, n)) for t in range(n)]


class PointReachEnv(gym.Env):
    """
    A continuous-control task: move a point on a line to 0. ``x`` starts uniform in [-1, 1]; the action
    ``a`` in [-1, 1] moves it by ``0.2 a``; the reward is ``-|x|``; episodes last 20 steps. A random policy
    scores about -10 per episode; going straight to 0 scores about -2.5.
    """

    def __init__(self):
        super().__init__()
        self.observation_space = spaces.Box(low=-5.0, high=5.0, shape=(1,), dtype=np.float32)
        self.action_space = spaces.Box(low=-1.0, high=1.0, shape=(1,), dtype=np.float32)
        self.x = 0.0
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.x = float(self.np_random.uniform(-1.0, 1.0))
        self.t = 0
        return np.array([self.x], dtype=np.float32), {}

    def step(self, action):
        self.x = float(np.clip(self.x + 0.2 * float(np.asarray(action).reshape(-1)[0]), -5.0, 5.0))
        self.t += 1
        return np.array([self.x], dtype=np.float32), -abs(self.x), False, self.t >= 20, {}
