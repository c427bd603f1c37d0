"""The update of train(): chunks, the staleness correction, and the constant divisor of the policy loss."""

import copy

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from tests.helpers import FixedRewardEnv


def test_chunked_and_whole_updates_give_the_same_parameters() -> None:
    def train(chunk_size: int | None) -> dict[str, th.Tensor]:
        env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
        model = REINFORCE("MlpPolicy", env, n_steps=128, seed=0, chunk_size=chunk_size, device="cpu")
        model.learn(3 * 256)
        assert model._n_updates == 3
        return model.policy.state_dict()

    whole, chunked = train(None), train(17)
    for name, value in whole.items():
        assert th.allclose(value, chunked[name], atol=1e-6), name


def test_no_forward_pass_exceeds_the_chunk() -> None:
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=64, seed=0, chunk_size=10)
    sizes: list[int] = []
    for name in ("evaluate_actions", "predict_values"):
        method = getattr(model.policy, name)

        def recorded(obs, *args, method=method):
            sizes.append(len(obs))
            return method(obs, *args)

        setattr(model.policy, name, recorded)
    model.learn(256)
    assert max(sizes) == 10 and sum(sizes) > 10 * 20


def _one_stale_update(stale_correction: bool, n_steps: int) -> tuple[th.Tensor, dict, float]:
    """
    One 5-step episode collected over two rollouts of ``n_steps``, with the policy moved between them; the update's
    gradient of the actor, the batch, and the logged stale fraction.
    """
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0, 0.0, 2.0, 0.0, 3.0])])
    model = REINFORCE(
        "MlpPolicy",
        env,
        n_steps=n_steps,
        seed=0,
        baseline=None,
        normalize_advantage=False,
        max_grad_norm=float("inf"),
        stale_correction=stale_correction,
        policy_kwargs=dict(net_arch=[]),
        device="cpu",
    )
    model.learn(n_steps)
    with th.no_grad():
        model.policy.action_net.weight.add_(th.tensor([[0.3, -0.2], [-0.3, 0.2]]))
    recorded: dict = {}

    class Batch(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            recorded["batch"] = next(self.model.rollout_buffer.get())

    step = model.policy.optimizer.step
    model.policy.optimizer.step = lambda *a, **k: recorded.setdefault("grad", model.policy.action_net.weight.grad.clone())
    model.learn(n_steps, callback=Batch(), reset_num_timesteps=False)
    model.policy.optimizer.step = step
    return recorded["grad"], recorded["batch"], model.logger.name_to_value["train/stale_fraction"]


def test_stale_correction_weights_stale_steps_only() -> None:
    grad, batch, stale_fraction = _one_stale_update(True, n_steps=3)
    plain_grad, _, _ = _one_stale_update(False, n_steps=3)
    # 3 steps from the first rollout (stale), 2 from the second
    assert list(batch.stale.numpy()) == [True, True, True, False, False] and stale_fraction == pytest.approx(0.6)
    assert not th.allclose(grad, plain_grad)
    # by hand: step t's term weighted by min(1, pi/pi_old) if stale, by 1 otherwise; N = n_steps * n_envs = 3
    policy = copy.deepcopy(_policy_after_move())
    log_prob = policy.get_distribution(batch.observations).log_prob(batch.actions.long().flatten())
    ratio = th.exp(log_prob.detach() - batch.old_log_prob).clamp(max=1.0)
    weights = th.where(batch.stale, ratio, th.ones_like(ratio))
    assert (ratio[batch.stale] < 1).any() and th.equal(weights[~batch.stale], th.ones(2))
    (expected,) = th.autograd.grad(
        -(batch.returns * weights * log_prob).sum() / 3, policy.action_net.weight, retain_graph=True
    )
    assert th.allclose(grad, expected, atol=1e-6)
    (uncorrected,) = th.autograd.grad(-(batch.returns * log_prob).sum() / 3, policy.action_net.weight)
    assert th.allclose(plain_grad, uncorrected, atol=1e-6)


def _policy_after_move():
    """The policy of ``_one_stale_update`` when it takes its update (the same seed, the same move)."""
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0, 0.0, 2.0, 0.0, 3.0])])
    model = REINFORCE("MlpPolicy", env, n_steps=3, seed=0, baseline=None, policy_kwargs=dict(net_arch=[]), device="cpu")
    model.learn(3)
    with th.no_grad():
        model.policy.action_net.weight.add_(th.tensor([[0.3, -0.2], [-0.3, 0.2]]))
    return model.policy


def test_stale_correction_changes_nothing_without_stale_steps() -> None:
    # n_steps=5: the episode fits in one rollout, no step is stale
    grad, batch, stale_fraction = _one_stale_update(True, n_steps=5)
    plain_grad, _, _ = _one_stale_update(False, n_steps=5)
    assert not batch.stale.any() and stale_fraction == 0.0
    assert th.equal(grad, plain_grad)


def test_policy_loss_divisor() -> None:
    env = make_vec_env("CartPole-v1", n_envs=3)
    assert REINFORCE("MlpPolicy", env, n_steps=16).policy_loss_divisor == 48
    assert REINFORCE("MlpPolicy", env, n_steps=16, n_episodes=7).policy_loss_divisor == 7
    assert np.isclose(REINFORCE("MlpPolicy", env, n_steps=16, chunk_size=5).policy_loss_divisor, 48)
