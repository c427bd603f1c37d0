"""REINFORCE runs on every action and observation space, with every baseline and vec env."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    FakeImageEnv,
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
    SimpleMultiObsEnv,
)
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

from sb3_reinforce import REINFORCE
from tests.helpers import FixedRewardEnv

BASELINES = [None, "value", "mean", "leave_one_out"]


class DiscreteObsEnv(gym.Env):
    """Discrete observations and actions, episodes of 5 steps."""

    def __init__(self):
        self.observation_space = spaces.Discrete(4)
        self.action_space = spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        return self.t % 4, float(action), self.t >= 5, False, {}


@pytest.mark.parametrize(
    "env_fn",
    [
        lambda: IdentityEnv(4, ep_length=10),
        lambda: IdentityEnvBox(ep_length=10),
        lambda: IdentityEnvMultiDiscrete(3, ep_length=10),
        lambda: IdentityEnvMultiBinary(3, ep_length=10),
    ],
    ids=["Discrete", "Box", "MultiDiscrete", "MultiBinary"],
)
@pytest.mark.parametrize("baseline", BASELINES)
def test_action_spaces(env_fn, baseline) -> None:
    model = REINFORCE("MlpPolicy", make_vec_env(env_fn, n_envs=2, seed=0), n_steps=16, baseline=baseline, seed=0)
    model.learn(64)
    # 2 rollouts of 2 x 16 steps, each with at least one ended episode
    assert model._n_updates == 2


@pytest.mark.parametrize("sde_sample_freq", [-1, 4])
def test_gsde(sde_sample_freq: int) -> None:
    model = REINFORCE(
        "MlpPolicy", "Pendulum-v1", n_steps=100, use_sde=True, sde_sample_freq=sde_sample_freq, seed=0, baseline="value"
    )
    model.learn(400)
    assert model._n_updates == 2


def test_discrete_observations() -> None:
    model = REINFORCE("MlpPolicy", make_vec_env(DiscreteObsEnv, n_envs=3), n_steps=8, seed=0)
    model.learn(48)
    assert model._n_updates == 2


def test_image_observations() -> None:
    env = make_vec_env(lambda: FakeImageEnv(screen_height=36, screen_width=36, n_channels=1), n_envs=2)
    model = REINFORCE(
        "CnnPolicy", env, n_steps=16, seed=0, policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=16))
    )
    before = model.policy.action_net.weight.detach().clone()
    model.learn(64)
    # episodes of 10 steps: both rollouts have ended episodes, and the images are held as uint8
    assert model._n_updates == 2
    assert not th.equal(before, model.policy.action_net.weight.detach())
    assert model.rollout_buffer.blocks[max(model.rollout_buffer.blocks)]["obs/"].dtype == np.uint8


@pytest.mark.parametrize("baseline", [None, "value"])
def test_dict_observations(baseline) -> None:
    env = DummyVecEnv([lambda: gym.wrappers.TimeLimit(SimpleMultiObsEnv(random_start=False), 20)] * 2)
    model = REINFORCE("MultiInputPolicy", env, n_steps=16, seed=0, baseline=baseline)
    model.learn(128)
    assert model._n_updates >= 2


def test_subproc_vec_env() -> None:
    env = make_vec_env("CartPole-v1", n_envs=2, vec_env_cls=SubprocVecEnv, seed=0)
    try:
        model = REINFORCE("MlpPolicy", env, n_steps=64, seed=0)
        model.learn(256)
        assert model._n_updates >= 1
    finally:
        env.close()


def test_vec_normalize() -> None:
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0))
    model = REINFORCE("MlpPolicy", env, n_steps=200, seed=0)
    model.learn(800)
    assert model._n_updates == 2


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
