"""Every action and observation space that SB3's A2C accepts: learn, predict's shapes, and save/load."""

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize, VecTransposeImage

from sb3_reinforce import REINFORCE

VECTOR = spaces.Box(-1, 1, (3,), np.float32)
IMAGE_LAST = spaces.Box(0, 255, (36, 36, 3), np.uint8)
IMAGE_FIRST = spaces.Box(0, 255, (3, 36, 36), np.uint8)


class SpaceEnv(gym.Env):
    """Random observations of ``observation_space``; episodes of 6 steps; reward 1 for the first action component > 0."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space):
        super().__init__()
        self.observation_space, self.action_space = observation_space, action_space
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
        return self.observation_space.sample(), reward, self.t >= 6, False, {}


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


def check_model(model: REINFORCE, tmp_path, single_obs: Any) -> None:
    """learn runs and updates; predict has the action space's shape (single and batched); save/load keeps it."""
    model.learn(96)
    assert model._n_updates >= 1
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


def _vec_env(observation_space: spaces.Space, action_space: spaces.Space, n_envs: int = 2):
    return make_vec_env(lambda: SpaceEnv(observation_space, action_space), n_envs=n_envs, seed=0)


@pytest.mark.parametrize("action_space", ACTIONS.values(), ids=ACTIONS.keys())
def test_action_spaces(action_space: spaces.Space, tmp_path) -> None:
    model = REINFORCE("MlpPolicy", _vec_env(VECTOR, action_space), n_steps=16, seed=0)
    check_model(model, tmp_path, VECTOR.sample())


@pytest.mark.parametrize("squash_output", [False, True])
def test_gsde(squash_output: bool, tmp_path) -> None:
    env = _vec_env(VECTOR, ACTIONS["Box(n,m)"])
    model = REINFORCE(
        "MlpPolicy", env, n_steps=16, use_sde=True, sde_sample_freq=4, policy_kwargs=dict(squash_output=squash_output), seed=0
    )
    check_model(model, tmp_path, VECTOR.sample())


@pytest.mark.parametrize("name", OBSERVATIONS.keys())
def test_observation_spaces(name: str, tmp_path) -> None:
    observation_space, policy = OBSERVATIONS[name]
    kwargs = dict(policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=16))) if policy == "CnnPolicy" else {}
    model = REINFORCE(policy, _vec_env(observation_space, spaces.Discrete(2)), n_steps=16, seed=0, **kwargs)
    single = observation_space.sample()
    if name == "image channel-last":
        # SB3 wraps the env in VecTransposeImage: predict takes the env's own (channel-last) observation
        assert isinstance(model.get_env(), VecTransposeImage)
    check_model(model, tmp_path, single)


@pytest.mark.parametrize("wrapper", ["VecNormalize", "VecFrameStack", "VecTransposeImage"])
def test_vec_env_wrappers(wrapper: str, tmp_path) -> None:
    if wrapper == "VecTransposeImage":
        env = VecTransposeImage(_vec_env(IMAGE_LAST, spaces.Discrete(2)))
        policy, kwargs = "CnnPolicy", dict(policy_kwargs=dict(features_extractor_kwargs=dict(features_dim=16)))
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
