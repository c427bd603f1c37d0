"""
Every action and observation space that SB3's A2C accepts, with every baseline, and the vec env wrappers: learn,
predict's shapes and save/load; the spaces REINFORCE refuses, and how.
"""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack, VecNormalize, VecTransposeImage

from sb3_reinforce import REINFORCE
from tests.helpers import FixedRewardEnv

BASELINES = [None, "value", "mean", "leave_one_out"]
VECTOR = spaces.Box(-1, 1, (3,), np.float32)
IMAGE_LAST = spaces.Box(0, 255, (36, 36, 3), np.uint8)
IMAGE_FIRST = spaces.Box(0, 255, (3, 36, 36), np.uint8)
SMALL_CNN = dict(policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=16)))


class SpaceEnv(gym.Env):
    """
    Random observations of ``observation_space``; episodes of ``episode_length`` steps (6 unless told); reward 1
    for the first action component > 0.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, episode_length: int = 6):
        super().__init__()
        self.observation_space, self.action_space = observation_space, action_space
        self.episode_length = episode_length
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        assert self.action_space.contains(np.asarray(action, dtype=self.action_space.dtype)), action
        self.t += 1
        reward = float(np.asarray(action).reshape(-1)[0] > 0)
        return self.observation_space.sample(), reward, self.t >= self.episode_length, False, {}


ACTIONS = {
    "Box(n)": spaces.Box(-1, 1, (2,), np.float32),
    "Box(n,m)": spaces.Box(-1, 1, (2, 2), np.float32),
    "Box float64": spaces.Box(-1, 1, (3,), np.float64),
    "Discrete": spaces.Discrete(3),
    "MultiDiscrete": spaces.MultiDiscrete([2, 3]),
    "MultiBinary": spaces.MultiBinary(3),
}
OBSERVATIONS = {
    "Box 1d": (VECTOR, "MlpPolicy"),
    "Box 2d": (spaces.Box(-1, 1, (2, 3), np.float32), "MlpPolicy"),
    "image channel-last": (IMAGE_LAST, "CnnPolicy"),
    "image channel-first": (IMAGE_FIRST, "CnnPolicy"),
    "Discrete": (spaces.Discrete(4), "MlpPolicy"),
    "MultiDiscrete": (spaces.MultiDiscrete([2, 3]), "MlpPolicy"),
    "MultiBinary": (spaces.MultiBinary(4), "MlpPolicy"),
    "Dict image+vector": (spaces.Dict({"img": IMAGE_LAST, "vec": VECTOR, "flags": spaces.MultiBinary(2)}), "MultiInputPolicy"),
}


def check_model(model: REINFORCE, tmp_path, single_obs: Any, n_updates: int = 3) -> None:
    """
    learn(96) takes ``n_updates`` updates (with 2 envs, rollouts of 16 steps and episodes of 6 steps: one per
    rollout) that move the actor; predict has the action space's shape (single and batched); save/load keeps it.
    """
    before = model.policy.action_net.weight.detach().clone()
    model.learn(96)
    assert model._n_updates == n_updates
    assert not th.equal(before, model.policy.action_net.weight.detach())
    shape = model.action_space.shape
    action, _ = model.predict(single_obs, deterministic=True)
    assert action.shape == shape
    env = model.get_env()
    assert env is not None
    batched_obs = env.reset()
    batched, _ = model.predict(batched_obs, deterministic=True)
    assert batched.shape == (env.num_envs, *shape)
    assert model.action_space.contains(batched[0].astype(model.action_space.dtype))
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", device=model.device)
    np.testing.assert_array_equal(loaded.predict(batched_obs, deterministic=True)[0], batched)


def _vec_env(observation_space: spaces.Space, action_space: spaces.Space, n_envs: int = 2, episode_length: int = 6):
    return make_vec_env(lambda: SpaceEnv(observation_space, action_space, episode_length), n_envs=n_envs, seed=0)


@pytest.mark.parametrize("baseline", BASELINES)
@pytest.mark.parametrize("action_space", ACTIONS.values(), ids=ACTIONS.keys())
def test_action_spaces(action_space: spaces.Space, baseline: str | None, tmp_path) -> None:
    model = REINFORCE("MlpPolicy", _vec_env(VECTOR, action_space), n_steps=16, baseline=baseline, seed=0)
    check_model(model, tmp_path, VECTOR.sample())


@pytest.mark.parametrize("squash_output", [False, True])
@pytest.mark.parametrize("sde_sample_freq", [-1, 4])
def test_gsde(sde_sample_freq: int, squash_output: bool, tmp_path) -> None:
    # episodes of 24 steps, longer than a rollout of 16: the noise is resampled in the middle of the episodes
    env = _vec_env(VECTOR, ACTIONS["Box(n,m)"], episode_length=24)
    model = REINFORCE(
        "MlpPolicy",
        env,
        n_steps=16,
        use_sde=True,
        sde_sample_freq=sde_sample_freq,
        policy_kwargs=dict(squash_output=squash_output),
        seed=0,
    )
    # the episodes end at steps 24 and 48 of each env: in the second and third rollouts
    check_model(model, tmp_path, VECTOR.sample(), n_updates=2)


@pytest.mark.parametrize("baseline", [None, "value"])
@pytest.mark.parametrize("name", OBSERVATIONS.keys())
def test_observation_spaces(name: str, baseline: str | None, tmp_path) -> None:
    observation_space, policy = OBSERVATIONS[name]
    kwargs = SMALL_CNN if policy == "CnnPolicy" else {}
    env = _vec_env(observation_space, spaces.Discrete(2))
    model = REINFORCE(policy, env, n_steps=16, baseline=baseline, seed=0, **kwargs)
    if name == "image channel-last":
        # SB3 wraps the env in VecTransposeImage: predict takes the env's own (channel-last) observation
        assert isinstance(model.get_env(), VecTransposeImage)
    check_model(model, tmp_path, observation_space.sample())
    # each observation is held in its own dtype: images as uint8
    stored = model.rollout_buffer.blocks[max(model.rollout_buffer.blocks)]
    parts = observation_space.spaces if isinstance(observation_space, spaces.Dict) else {"": observation_space}
    assert {key: stored[f"obs/{key}"].dtype for key in parts} == {key: part.dtype for key, part in parts.items()}


@pytest.mark.parametrize("wrapper", ["VecNormalize", "VecFrameStack", "VecTransposeImage"])
def test_vec_env_wrappers(wrapper: str, tmp_path) -> None:
    if wrapper == "VecTransposeImage":
        env = VecTransposeImage(_vec_env(IMAGE_LAST, spaces.Discrete(2)))
        policy, kwargs = "CnnPolicy", SMALL_CNN
    else:
        env = VecNormalize(_vec_env(VECTOR, ACTIONS["Box(n)"])) if wrapper == "VecNormalize" else None
        env = env or VecFrameStack(_vec_env(VECTOR, ACTIONS["Box(n)"]), n_stack=3)
        policy, kwargs = "MlpPolicy", {}
    model = REINFORCE(policy, env, n_steps=16, seed=0, **kwargs)
    check_model(model, tmp_path, env.observation_space.sample())


@pytest.mark.parametrize(
    "action_space", [spaces.MultiBinary((2, 3)), spaces.MultiDiscrete(np.array([[2, 3], [3, 2]]))], ids=str
)
def test_multi_dimensional_actions_refused_clearly(action_space: spaces.Space) -> None:
    env = SpaceEnv(VECTOR, action_space)
    with pytest.raises(ValueError, match=r"(?s)Multi-dimensional .* not supported.*Flatten"):
        REINFORCE("MlpPolicy", env)
    # SB3's A2C refuses them too (with an assertion, or a crash inside torch)
    with pytest.raises((AssertionError, TypeError)):
        A2C("MlpPolicy", env)


def test_unsupported_action_space() -> None:
    class TupleActionEnv(FixedRewardEnv):
        def __init__(self):
            super().__init__([1.0])
            self.action_space = spaces.Tuple([spaces.Discrete(2), spaces.Discrete(2)])

    with pytest.raises(AssertionError, match="action space"):
        REINFORCE("MlpPolicy", DummyVecEnv([TupleActionEnv]))
