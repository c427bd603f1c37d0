"""SB3's contract, kept: code written for A2C (callbacks, save/load scripts, except clauses) runs unchanged."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from tests.helpers import FixedRewardEnv


class RolloutFieldsLogger(BaseCallback):
    """A logging callback as written for A2C: reads SB3's rollout buffer fields after each rollout."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict[str, np.ndarray]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        names = ("observations", "actions", "rewards", "returns", "advantages", "log_probs", "episode_starts", "values")
        self.rows.append({name: np.asarray(getattr(buffer, name)) for name in names})
        self.logger.record("custom/mean_reward", float(np.mean(buffer.rewards)) if len(buffer.rewards) else 0.0)


@pytest.mark.parametrize("algo", [A2C, REINFORCE])
def test_a2c_callback_reads_the_rollout_buffer(algo) -> None:
    callback = RolloutFieldsLogger()
    algo("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=32, seed=0).learn(256, callback=callback)
    assert len(callback.rows) == 4 and all(np.isfinite(row["rewards"]).all() for row in callback.rows)


class A2CStatistics(BaseCallback):
    """A callback as written for A2C: statistics of the advantages and values of each rollout."""

    def __init__(self):
        super().__init__()
        self.batch_steps: list[int] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer
        n_steps = buffer.batch_steps
        for name in ("observations", "actions", "rewards", "returns", "advantages", "log_probs", "episode_starts", "values"):
            field = getattr(buffer, name)
            assert isinstance(field, np.ndarray) and len(field) == n_steps, (name, field)
        if n_steps:
            self.logger.record("custom/advantage_mean", buffer.advantages.mean())
            self.logger.record("custom/value_mean", buffer.values.mean())
        self.batch_steps.append(n_steps)


def test_rollout_buffer_fields_are_arrays_when_no_episode_ended() -> None:
    # The defaults on CartPole-v1: 16 steps per rollout, so most rollouts end no episode and leave an empty batch
    callback = A2CStatistics()
    REINFORCE("MlpPolicy", "CartPole-v1", seed=0).learn(2_000, callback=callback)
    empty = sum(n == 0 for n in callback.batch_steps)
    assert len(callback.batch_steps) == 125 and empty > 60 and empty < 125


def test_rollout_buffer_fields_hold_the_batch() -> None:
    # Two envs with episodes of 3 and 2 steps and known rewards; one rollout of 3 steps holds both episodes whole
    env_rewards = [[1.0, 2.0, 4.0], [3.0, 1.0]]
    env = DummyVecEnv([lambda r=r: FixedRewardEnv(r) for r in env_rewards])
    callback = RolloutFieldsLogger()
    model = REINFORCE("MlpPolicy", env, n_steps=3, gamma=0.5, seed=0)
    model.learn(3, callback=callback)
    row = callback.rows[0]
    batch = model.rollout_buffer.batch
    assert len(batch) == 5 and row["observations"].shape == (5, *env.observation_space.shape)
    assert row["actions"].shape == (5, 1)
    order = np.lexsort((batch.episode_steps.numpy(), batch.episode_ids.numpy()))
    episode_of_len_3 = batch.episode_ids.numpy()[order][0] == batch.episode_ids.numpy()[order][2]
    rewards = [1.0, 2.0, 4.0, 3.0, 1.0] if episode_of_len_3 else [3.0, 1.0, 1.0, 2.0, 4.0]
    returns = [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4.0, 3 + 0.5 * 1, 1.0]
    if not episode_of_len_3:
        returns = returns[3:] + returns[:3]
    assert np.allclose(row["rewards"][order], rewards)
    assert np.allclose(row["returns"][order], returns)
    assert list(row["episode_starts"][order]) == ([True, False, False, True, False] if episode_of_len_3 else
                                                 [True, False, True, False, False])  # fmt: skip
    # Psi_t = G_t - V(s_t), with V predicted before the fit; log pi_old of the actions taken
    assert np.allclose(row["advantages"], row["returns"] - row["values"])
    assert np.allclose(row["log_probs"], np.log(0.5), atol=0.1)


def test_rollout_buffer_values_without_value_head() -> None:
    callback = RolloutFieldsLogger()
    REINFORCE("MlpPolicy", "CartPole-v1", baseline="mean", n_steps=64, seed=0).learn(128, callback=callback)
    # an array of the batch's length, as SB3's, NaN since no value head predicts it
    assert all(row["values"].shape == row["returns"].shape and np.isnan(row["values"]).all() for row in callback.rows)
    for row in callback.rows:
        # the mean baseline, subtracted from G_t
        assert np.allclose(row["advantages"], row["returns"] - row["returns"].mean(), atol=1e-4)


def test_gsde_actions_stay_within_the_bounds() -> None:
    # As SB3's gSDE test: with a squashed policy, the stored actions lie in the action space's scaled bounds
    model = REINFORCE("MlpPolicy", "Pendulum-v1", use_sde=True, n_steps=200, seed=0, policy_kwargs=dict(squash_output=True))
    callback = RolloutFieldsLogger()
    model.learn(400, callback=callback)
    actions = np.concatenate([row["actions"] for row in callback.rows])
    assert len(actions) > 0 and np.all(np.abs(actions) <= 1.0)


def test_sample_draws_from_the_batch() -> None:
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=64, seed=0)
    model.learn(640)
    buffer = model.rollout_buffer
    samples = buffer.sample(8)
    assert samples.observations.shape == (8, 4) and samples.advantages is not None
    # every sampled step is a step of the batch
    batch_obs = th.as_tensor(buffer.observations)
    assert all((batch_obs == obs).all(dim=1).any() for obs in samples.observations)
    buffer.start_rollout(np.zeros(2, dtype=bool))
    buffer.finalize()
    with pytest.raises(RuntimeError, match="batch is empty"):
        buffer.sample(8)


def test_set_parameters_exact_match_raises_on_a_missing_or_extra_object() -> None:
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0)
    params = model.get_parameters()
    assert "critic.optimizer" in params
    missing = {name: value for name, value in params.items() if name != "critic.optimizer"}
    with pytest.raises(ValueError, match="do not match"):
        model.set_parameters(missing, exact_match=True)
    model.set_parameters(missing, exact_match=False)
    joint = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, n_critic_updates=None)
    with pytest.raises(ValueError, match=r"critic\.optimizer is an invalid object name"):
        joint.set_parameters(params, exact_match=True)
    joint.set_parameters(joint.get_parameters(), exact_match=True)


class MultiBinaryActionEnv(FixedRewardEnv):
    def __init__(self):
        super().__init__([1.0])
        self.action_space = spaces.MultiBinary([2, 2])


def test_sb3_exception_types() -> None:
    env = DummyVecEnv([MultiBinaryActionEnv])
    # code written for A2C catches SB3's AssertionError; REINFORCE's error is also a ValueError with the fix
    with pytest.raises(AssertionError, match="Multi-dimensional MultiBinary"):
        A2C("MlpPolicy", env)
    with pytest.raises(AssertionError, match=r"Multi-dimensional MultiBinary.*Flatten"):
        REINFORCE("MlpPolicy", env)
    with pytest.raises(ValueError, match="Multi-dimensional MultiBinary"):
        REINFORCE("MlpPolicy", env)


def test_one_foreign_argument_in_the_singular() -> None:
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument\. gae_lambda: .*\. Remove it\.$"):
        REINFORCE("MlpPolicy", "CartPole-v1", gae_lambda=0.95)
    with pytest.raises(TypeError, match=r"got unexpected keyword arguments\. clip_range: .*\. Remove them\.$"):
        REINFORCE("MlpPolicy", "CartPole-v1", gae_lambda=0.95, clip_range=0.2)


@pytest.mark.slow
def test_default_log_is_quiet(capsys: pytest.CaptureFixture) -> None:
    # A table about as often as A2C's (every 500 steps per env), and none that claims trouble (no episode in the batch)
    # when the last update's rollout simply ended no episode
    REINFORCE("MlpPolicy", "CartPole-v1", verbose=1, seed=0).learn(20_000)
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in capsys.readouterr().out.splitlines()]
    rows = [row for row in cells if len(row) == 2]
    tables = sum(row[0] == "total_timesteps" for row in rows)
    assert 20_000 // 600 <= tables <= 20_000 // 500
    episodes = [row[1] for row in rows if row[0] in ("n_episodes", "n_transitions")]
    assert episodes and "0" not in episodes
