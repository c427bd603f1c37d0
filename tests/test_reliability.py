"""Faults during training: no leaked worker processes, and training continues after an env exception."""

import multiprocessing
import time

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from sb3_reinforce import REINFORCE
from tests.helpers import FixedRewardEnv


class RaiseAt(BaseCallback):
    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at:
            raise RuntimeError("failure in the middle of a rollout")
        return True


def _children_after_close(env) -> int:
    env.close()
    deadline = time.time() + 5
    while multiprocessing.active_children() and time.time() < deadline:
        time.sleep(0.05)
    return len(multiprocessing.active_children())


@pytest.mark.slow
def test_subproc_no_leak_after_close_and_after_exception() -> None:
    before = len(multiprocessing.active_children())
    env = make_vec_env("CartPole-v1", n_envs=2, vec_env_cls=SubprocVecEnv, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=32).learn(128)
    # it trains on the workers' episodes
    assert model._n_updates >= 1
    assert _children_after_close(env) == before

    env = make_vec_env("CartPole-v1", n_envs=2, vec_env_cls=SubprocVecEnv, seed=0)
    with pytest.raises(RuntimeError, match="middle of a rollout"):
        REINFORCE("MlpPolicy", env, n_steps=32).learn(1_000, callback=RaiseAt(100))
    assert _children_after_close(env) == before


class FlakyEnv(FixedRewardEnv):
    """Raises once, at its 20th step."""

    def step(self, action):
        if self.global_step == 19 and not getattr(self, "failed", False):
            self.failed = True
            raise OSError("simulator crashed")
        return super().step(action)


def test_env_exception_leaves_model_consistent(tmp_path) -> None:
    env = DummyVecEnv([lambda: FlakyEnv([1.0] * 6)])
    model = REINFORCE("MlpPolicy", env, n_steps=8, seed=0, baseline=None)
    with pytest.raises(OSError, match="simulator crashed"):
        model.learn(100)
    # the failed step was never recorded: 19 steps are accounted for
    assert model.num_timesteps == 19
    params = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.save(tmp_path / "after_crash")
    loaded = REINFORCE.load(tmp_path / "after_crash", env=env)
    for name, value in loaded.policy.state_dict().items():
        assert np.array_equal(value.cpu().numpy(), params[name].cpu().numpy())
    # and training continues where it stopped
    model.learn(40, reset_num_timesteps=False)
    assert model.num_timesteps >= 59
