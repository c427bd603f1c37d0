"""Every bad argument or input raises an error that names it and says how to fix it."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.reinforce.checks import AUTO_CRITIC
from tests.helpers import FixedRewardEnv


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(gamma=1.5), "gamma"),
        (dict(gamma=-0.1), "gamma"),
        (dict(n_steps=0), "n_steps"),
        (dict(n_steps=2.5), "n_steps"),
        (dict(n_episodes=0), "n_episodes"),
        (dict(baseline="critic"), "baseline"),
        (dict(discount_weighting=True, reward_to_go=False), "discount_weighting"),
        (dict(vf_coef=-1.0), "vf_coef"),
        (dict(ent_coef=-0.01), "ent_coef"),
        (dict(max_grad_norm=0.0), "max_grad_norm"),
        (dict(max_grad_norm=-1.0), "max_grad_norm"),
        (dict(max_step_kl=0.0), r"max_step_kl must be None .* or a finite float > 0"),
        (dict(max_step_kl=float("inf")), "max_step_kl"),
        (dict(max_step_kl="small"), "max_step_kl"),
        (dict(learning_rate=-1e-3), "learning_rate must be a float >= 0"),
        (dict(learning_rate="fast"), "learning_rate"),
        (dict(sde_sample_freq=0), "sde_sample_freq"),
        (dict(stats_window_size=0), "stats_window_size"),
        (dict(reward_to_go="yes"), "reward_to_go"),
        (dict(normalize_advantage=None), "normalize_advantage"),
        (dict(rollout_buffer_class=RolloutBuffer), "rollout_buffer_class"),
        (dict(rollout_buffer_kwargs=dict(max_episode_steps=0)), "max_episode_steps"),
        (dict(rollout_buffer_kwargs=dict(gae_lambda=0.95)), "gae_lambda"),
        (dict(rollout_buffer_kwargs=dict(max_bytes=0)), "max_bytes"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(n_critic_updates=0), "n_critic_updates"),
        (dict(n_critic_updates=2.5), "n_critic_updates"),
        (dict(n_critic_updates=3, baseline="mean"), r"n_critic_updates=3 fits the value head.*baseline='mean'"),
        (dict(n_critic_updates=None, batch_size=64), r"batch_size=64 applies to the critic.*n_critic_updates"),
        (dict(n_critic_updates=None, vf_learning_rate=1e-3), r"vf_learning_rate=0.001 applies to the critic"),
        (dict(batch_size=64, baseline="mean"), r"batch_size=64 applies to the critic.*baseline='value'"),
        (dict(n_critic_updates="fast"), r"n_critic_updates must be 'auto', None or an integer"),
        (dict(batch_size="auto "), r"batch_size must be 'auto', None"),
        (dict(normalize_value_targets="yes"), r"normalize_value_targets must be 'auto', True or False"),
        (dict(n_critic_updates=3, batch_size=0), "batch_size"),
        (dict(n_critic_updates=3, vf_learning_rate=-1.0), "vf_learning_rate"),
        (dict(normalize_value_targets=1), "normalize_value_targets"),
        (dict(normalize_value_targets=True, baseline="mean"), r"normalize_value_targets=True.*baseline='mean'"),
    ],
)
def test_invalid_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        REINFORCE("MlpPolicy", "CartPole-v1", **kwargs)


@pytest.mark.parametrize(
    "kwargs, resolved",
    [
        # the value head used: the critic fitted apart, on normalized targets
        (dict(), (1, 64, 2e-3, True)),
        (dict(baseline=None, bootstrap_truncated=True), (1, 64, 2e-3, True)),
        # no value head: nothing of the critic applies
        (dict(baseline="mean"), (None, None, None, False)),
        (dict(baseline="leave_one_out"), (None, None, None, False)),
        (dict(baseline=None), (None, None, None, False)),
        # an explicit choice is kept, and what it turns off resolves to None
        (dict(n_critic_updates=None), (None, None, None, True)),
        (dict(n_critic_updates=20, batch_size=None), (20, None, 2e-3, True)),
        (dict(vf_learning_rate=3e-4, normalize_value_targets=False), (1, 64, 3e-4, False)),
    ],
)
def test_auto_critic_follows_the_baseline(kwargs, resolved) -> None:
    model = REINFORCE("MlpPolicy", "CartPole-v1", device="cpu", **kwargs)
    names = ("n_critic_updates", "batch_size", "vf_learning_rate", "normalize_value_targets")
    assert tuple(getattr(model, name) for name in names) == resolved
    # the value head is used (a critic) when either is set, and fitted apart when n_critic_updates is
    assert (model.critic is not None) == (resolved[0] is not None or resolved[3])
    assert (model.critic is not None and not model.critic.joint) == (resolved[0] is not None)
    assert model.value_targets.normalize == resolved[3]


def test_load_resolves_and_checks_the_critic_arguments(tmp_path) -> None:
    # load(path, **kwargs) sets its kwargs on the model without the constructor: _setup_model resolves and checks them
    REINFORCE("MlpPolicy", "CartPole-v1", n_critic_updates=None, device="cpu").save(tmp_path / "model")
    auto = dict.fromkeys(("n_critic_updates", "batch_size", "vf_learning_rate"), "auto")
    loaded = REINFORCE.load(tmp_path / "model", device="cpu", **auto)
    # the file has no state for a critic fitted apart: its optimizer starts fresh, and it trains
    assert loaded.critic is not None and not loaded.critic.optimizer.state_dict()["state"]
    assert tuple(getattr(loaded, name) for name in auto) == tuple(AUTO_CRITIC[name] for name in auto)
    loaded.set_env(DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    loaded.learn(64)
    assert loaded.critic.optimizer.state_dict()["state"]
    loaded.save(tmp_path / "apart")
    with pytest.warns(UserWarning, match="critic's optimizer was dropped: n_critic_updates=None"):
        joint = REINFORCE.load(tmp_path / "apart", device="cpu", n_critic_updates=None, batch_size=None, vf_learning_rate=None)
    assert joint.critic is not None and joint.critic.joint and joint.critic.optimizer is None
    obs = np.zeros((1, 4), dtype=np.float32)
    assert th.equal(joint.policy.predict_values(th.as_tensor(obs)), loaded.policy.predict_values(th.as_tensor(obs)))
    with pytest.raises(ValueError, match="batch_size must be 'auto', None"):
        REINFORCE.load(tmp_path / "model", device="cpu", n_critic_updates=3, batch_size=0)
    with pytest.raises(ValueError, match=r"normalize_value_targets=True.*baseline='mean'"):
        REINFORCE.load(tmp_path / "model", device="cpu", baseline="mean")
    loaded = REINFORCE.load(tmp_path / "model", device="cpu", baseline="mean", normalize_value_targets="auto")
    assert (loaded.normalize_value_targets, loaded.critic) == (False, None)


def _trains(model: REINFORCE) -> None:
    """Train a few updates: the parameters change and stay finite."""
    before = [parameter.detach().clone() for parameter in model.policy.parameters()]
    model.learn(128)
    after = list(model.policy.parameters())
    assert all(th.isfinite(parameter).all() for parameter in after)
    assert any(not th.equal(old, new) for old, new in zip(before, after, strict=True))


def test_valid_edge_values() -> None:
    """The ends of each valid range are accepted, kept, and train."""
    edges = dict(gamma=0.0, max_grad_norm=float("inf"), ent_coef=0.0, vf_coef=0.0)
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=32, seed=0, device="cpu", **edges)
    assert {name: getattr(model, name) for name in edges} == edges
    _trains(model)

    model = REINFORCE(
        "MlpPolicy", "CartPole-v1", gamma=1.0, bootstrap_truncated=True, baseline="value", n_episodes=1, seed=0, device="cpu"
    )
    assert (model.gamma, model.bootstrap_truncated, model.baseline, model.n_episodes) == (1.0, True, "value", 1)
    _trains(model)

    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=32, learning_rate=lambda progress: 1e-3 * progress, device="cpu")
    assert model.lr_schedule(0.5) == pytest.approx(5e-4)
    _trains(model)
    # the schedule is applied: the learning rate decayed from 1e-3 during training
    assert 0 <= model.policy.optimizer.param_groups[0]["lr"] < 1e-3


class BadValueEnv(FixedRewardEnv):
    def __init__(self, where: str, value: float):
        super().__init__([1.0] * 5)
        self.where, self.value = where, value

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if self.global_step == 3:
            if self.where == "reward":
                reward = self.value
            else:
                obs = obs.copy()
                obs[0] = self.value
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize("where", ["reward", "observation"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_env_output(where: str, value: float) -> None:
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0] * 5), lambda: BadValueEnv(where, value)])
    model = REINFORCE("MlpPolicy", env, n_steps=8)
    with pytest.raises(ValueError, match=f"Env 1 returned a non-finite {where}.*VecCheckNan"):
        model.learn(64)


def test_gym_env_object() -> None:
    """A plain gymnasium env (not vectorized) works as in SB3: wrapped in a Monitor and a DummyVecEnv, and it trains."""
    model = REINFORCE("MlpPolicy", gym.make("CartPole-v1"), n_steps=32, seed=0, device="cpu")
    assert isinstance(model.get_env(), DummyVecEnv) and model.n_envs == 1
    _trains(model)
    assert model.num_timesteps >= 128
    # The Monitor SB3 adds reports the episodes (a random CartPole episode lasts about 20 steps)
    assert len(model.ep_info_buffer) > 0


@pytest.mark.parametrize(
    "name, why",
    [
        ("gae_lambda", "no gae_lambda"),
        ("n_epochs", "one gradient step per batch"),
        ("clip_range", "clipped surrogate"),
        ("target_kl", "use max_step_kl"),
        ("use_rms_prop", "optimizer_class"),
        # an argument of 0.1.0, removed since: what replaces it
        ("vf_max_grad_norm", r"removed after sb3-reinforce 0.1.0.*n_critic_updates=1"),
        ("not_an_argument", "not an argument of REINFORCE"),
    ],
)
def test_a2c_and_ppo_arguments_say_why(name: str, why: str) -> None:
    with pytest.raises(TypeError, match=rf"{name}: .*{why}"):
        REINFORCE("MlpPolicy", "CartPole-v1", **{name: 0.95})
