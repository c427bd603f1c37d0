"""Monte Carlo returns checked against hand-computed numbers (the pattern of SB3's tests/test_gae.py)."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.common.buffers import EpisodeBatch
from sb3_reinforce.common.returns import advantages, episode_layout, leave_one_out_baseline, reward_to_go
from tests.helpers import FixedRewardEnv, discounted_returns

GAMMA = 0.5


class BatchRecorder(BaseCallback):
    """Keep the update batch of every rollout (read right after the returns and advantages are computed)."""

    def __init__(self):
        super().__init__()
        self.batches: list[dict[str, np.ndarray]] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        batch = next(self.model.rollout_buffer.get(), None)
        if batch is None:
            self.batches.append({})
            return
        self.batches.append({name: value.cpu().numpy() for name, value in batch._asdict().items() if name != "observations"})
        self.batches[-1]["observations"] = batch.observations.cpu().numpy()
        values = self.model.rollout_buffer.batch.values
        if values is not None:
            self.batches[-1]["values"] = values.cpu().numpy()


def _train(env, n_steps: int, total: int, **kwargs) -> tuple[REINFORCE, list[dict[str, np.ndarray]]]:
    kwargs.setdefault("baseline", None)
    model = REINFORCE("MlpPolicy", env, n_steps=n_steps, gamma=GAMMA, seed=0, **kwargs)
    recorder = BatchRecorder()
    model.learn(total, callback=recorder)
    return model, recorder.batches


def _sorted_by_global_step(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.argsort(batch["observations"][:, 1])
    return {name: value[order] for name, value in batch.items()}


@pytest.mark.parametrize("truncate", [False, True])
def test_termination_and_truncation(truncate: bool) -> None:
    rewards = [1.0, 2.0, 3.0, 4.0]
    env = DummyVecEnv([lambda: FixedRewardEnv(rewards, truncate=truncate)])
    # two episodes per rollout, exactly
    _, batches = _train(env, n_steps=8, total=16)
    expected = discounted_returns(rewards, GAMMA)  # [3.125, 4.25, 5.5, 4.0]
    assert expected == [1 + 0.5 * 2 + 0.25 * 3 + 0.125 * 4, 2 + 0.5 * 3 + 0.25 * 4, 3 + 0.5 * 4, 4.0]
    for batch in batches:
        batch = _sorted_by_global_step(batch)
        assert np.allclose(batch["returns"], expected * 2)
        assert np.allclose(batch["episode_returns"], [expected[0]] * 8)
        assert list(batch["episode_steps"]) == [0, 1, 2, 3] * 2
        assert len(np.unique(batch["episode_ids"])) == 2
        assert not batch["stale"].any()


@pytest.mark.parametrize("baseline", ["value", "mean", None])
def test_truncation_bootstrap_value(baseline: str | None) -> None:
    """The bootstrapped amount is exactly gamma * V(s_T) under the rollout's value head, whatever the baseline."""
    rewards = [1.0, 2.0, 3.0]
    env = DummyVecEnv([lambda: FixedRewardEnv(rewards, truncate=True)])
    model = REINFORCE("MlpPolicy", env, n_steps=3, gamma=GAMMA, seed=0, baseline=baseline, bootstrap_truncated=True)
    with th.no_grad():  # V(s_T) in the returns' scale, before the update fits the head (the critic's default)
        value = model.value_targets.values(model.policy.predict_values(th.tensor([[3.0, 3.0]], device=model.device)))
    recorder = BatchRecorder()
    model.learn(3, callback=recorder)
    batch = _sorted_by_global_step(recorder.batches[0])
    assert np.allclose(batch["returns"][-1], 3.0 + GAMMA * value.item(), atol=1e-5)


@pytest.mark.parametrize("bootstrap_truncated", [True, False])
def test_value_head_trained_for_bootstrapping(bootstrap_truncated: bool) -> None:
    """With baseline="mean", the value head is trained (and its loss logged) only when it bootstraps truncations."""
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0, 2.0, 3.0], truncate=True)])
    model = REINFORCE("MlpPolicy", env, n_steps=3, seed=0, baseline="mean", bootstrap_truncated=bootstrap_truncated)
    before = [p.detach().clone() for p in model.policy.value_net.parameters()]
    model.learn(9)
    changed = any(not th.equal(b, p) for b, p in zip(before, model.policy.value_net.parameters(), strict=True))
    assert changed == bootstrap_truncated
    assert ("train/value_loss" in model.logger.name_to_value) == bootstrap_truncated


def test_episode_spanning_three_rollouts() -> None:
    rewards = [1.0, -1.0, 2.0, 0.5, 3.0, 1.0, 4.0]
    env = DummyVecEnv([lambda: FixedRewardEnv(rewards)])
    model, batches = _train(env, n_steps=3, total=9)
    assert batches[0] == {} and batches[1] == {}
    batch = _sorted_by_global_step(batches[2])
    assert np.allclose(batch["returns"], discounted_returns(rewards, GAMMA))
    assert list(batch["episode_steps"]) == list(range(7))
    assert list(batch["stale"]) == [True] * 6 + [False]
    # the 2 steps of the next episode wait in the buffer
    assert model.rollout_buffer.n_pending == 2


def test_several_envs_ending_at_different_times() -> None:
    env_rewards = [[1.0, 2.0], [3.0, 1.0, 2.0, 5.0, 1.0], [2.0, 2.0, 2.0]]
    env = DummyVecEnv([lambda r=r: FixedRewardEnv(r) for r in env_rewards])
    n_steps, n_rollouts = 4, 6
    _, batches = _train(env, n_steps=n_steps, total=n_steps * 3 * n_rollouts)
    # Check each step's return against the episode it belongs to, using the episode ids
    n_checked = 0
    for batch in batches:
        if not batch:
            continue
        for episode in np.unique(batch["episode_ids"]):
            mask = batch["episode_ids"] == episode
            steps = batch["episode_steps"][mask]
            order = np.argsort(steps)
            length = int(mask.sum())
            rewards = next(r for r in env_rewards if len(r) == length)
            assert list(steps[order]) == list(range(length))
            assert np.allclose(batch["returns"][mask][order], discounted_returns(rewards, GAMMA))
            assert np.allclose(batch["observations"][mask][order][:, 0], range(length))
            n_checked += length
    # every env finished at least 4 episodes in 24 steps
    assert n_checked >= 4 * (2 + 5 + 3)


def test_whole_episode_return() -> None:
    rewards = [1.0, 2.0, 3.0, 4.0]
    env = DummyVecEnv([lambda: FixedRewardEnv(rewards)])
    _, batches = _train(env, n_steps=4, total=4, reward_to_go=False)
    # Psi_t, as the batch carries it to the update
    assert np.allclose(batches[0]["advantages"], discounted_returns(rewards, GAMMA)[0])


def _two_episode_batch(model_kwargs: dict) -> tuple[REINFORCE, dict[str, np.ndarray]]:
    """One rollout holding one episode of each env: lengths 2 and 3."""
    env_rewards = [[1.0, 2.0], [3.0, 1.0, 2.0]]
    env = DummyVecEnv([lambda r=r: FixedRewardEnv(r) for r in env_rewards])
    model = REINFORCE("MlpPolicy", env, n_steps=3, gamma=GAMMA, seed=0, **model_kwargs)
    recorder = BatchRecorder()
    model.learn(6, callback=recorder)
    return model, recorder.batches[0]


# reward-to-go of the two episodes: A = [1 + 0.5*2, 2] = [2, 2]; B = [3 + 0.5*1 + 0.25*2, 1 + 0.5*2, 2] = [4, 2, 2]
G_A, G_B = [2.0, 2.0], [4.0, 2.0, 2.0]


def _by_episode(batch: dict[str, np.ndarray], values: np.ndarray) -> tuple[list[float], list[float]]:
    out = []
    for length in (2, 3):
        for episode in np.unique(batch["episode_ids"]):
            mask = batch["episode_ids"] == episode
            if mask.sum() == length:
                order = np.argsort(batch["episode_steps"][mask])
                out.append(list(values[mask][order]))
    return out[0], out[1]


@pytest.mark.parametrize(
    "baseline, reward_to_go, expected_a, expected_b",
    [
        (None, True, G_A, G_B),
        (None, False, [2.0, 2.0], [4.0, 4.0, 4.0]),
        # mean of G_t over the 5 steps = 12 / 5 = 2.4
        ("mean", True, [2 - 2.4, 2 - 2.4], [4 - 2.4, 2 - 2.4, 2 - 2.4]),
        # mean over the 2 episodes of R = (2 + 4) / 2 = 3
        ("mean", False, [-1.0, -1.0], [1.0, 1.0, 1.0]),
        # leave-one-out, reward-to-go: at t=0 and t=1 the other episode's G_t; at t=2 no other episode -> 0
        ("leave_one_out", True, [2 - 4.0, 2 - 2.0], [4 - 2.0, 2 - 2.0, 2.0]),
        ("leave_one_out", False, [2 - 4.0, 2 - 4.0], [4 - 2.0, 4 - 2.0, 4 - 2.0]),
    ],
)
def test_baselines(baseline, reward_to_go, expected_a, expected_b) -> None:
    _, batch = _two_episode_batch(dict(baseline=baseline, reward_to_go=reward_to_go))
    got_a, got_b = _by_episode(batch, batch["advantages"])
    assert np.allclose(got_a, expected_a) and np.allclose(got_b, expected_b)


def test_value_baseline() -> None:
    _, batch = _two_episode_batch(dict(baseline="value"))
    # V(s_t) of the untrained head: small, but not zero
    assert np.abs(batch["values"]).max() > 1e-3
    assert np.allclose(batch["advantages"], batch["returns"] - batch["values"])


def test_discount_weighting_counts_from_true_start() -> None:
    rewards = [1.0, 1.0, 1.0, 1.0, 1.0]
    env = DummyVecEnv([lambda: FixedRewardEnv(rewards)])
    _, batches = _train(env, n_steps=2, total=6, discount_weighting=True)
    batch = _sorted_by_global_step(batches[2])
    expected = [GAMMA**t * g for t, g in enumerate(discounted_returns(rewards, GAMMA))]
    assert np.allclose(batch["advantages"], expected)


# --- the pure functions, on a hand-written (time, env) timeline ---
def test_reward_to_go_on_a_timeline() -> None:
    # env 0: an episode of 2 steps, then one of 2 steps; env 1: one of 3 steps, then a running one
    rewards = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 8.0]], dtype=np.float32)
    dones = np.array([[False, False], [True, False], [False, True], [True, False]])
    returns = reward_to_go(rewards, dones, GAMMA)
    assert returns.dtype == np.float64
    assert np.allclose(returns[:, 0], [1 + 0.5 * 2, 2, 3 + 0.5 * 4, 4])
    assert np.allclose(returns[:3, 1], [2 + 0.5 * 1 + 0.25 * 4, 1 + 0.5 * 4, 4])


def test_episode_layout() -> None:
    starts = np.array([[True, True], [False, False], [True, False], [False, True]])
    valid = np.array([[True, True], [True, True], [True, True], [True, False]])
    time_idx, env_idx, start_rows, episode_ids = episode_layout(starts, valid)
    # row-major order; episodes numbered by start row, then env: (0, env 0) = 0, (0, env 1) = 1, (2, env 0) = 2
    assert list(time_idx) == [0, 0, 1, 1, 2, 2, 3]
    assert list(env_idx) == [0, 1, 0, 1, 0, 1, 0]
    assert list(time_idx - start_rows) == [0, 0, 1, 1, 0, 2, 1]
    assert list(episode_ids) == [0, 1, 0, 1, 2, 1, 2]


def test_leave_one_out_by_hand() -> None:
    # three episodes with returns 1, 2, 6: b_0 = (2 + 6) / 2, b_1 = (1 + 6) / 2, b_2 = (1 + 2) / 2
    returns = th.tensor([1.0, 1.0, 2.0, 6.0])
    ids = th.tensor([0, 0, 1, 2])
    assert th.allclose(leave_one_out_baseline(returns, ids, None), th.tensor([4.0, 4.0, 3.5, 1.5]))
    # reward-to-go: t=0 is shared by the three episodes, t=1 by episode 0 alone (baseline 0)
    steps = th.tensor([0, 1, 0, 0])
    g = th.tensor([1.0, 5.0, 2.0, 6.0])
    assert th.allclose(leave_one_out_baseline(g, ids, steps), th.tensor([4.0, 0.0, 3.5, 1.5]))


def test_advantages_by_hand() -> None:
    g = th.tensor([3.0, 2.0, 4.0])
    r = th.tensor([3.0, 3.0, 4.0])
    steps, ids = th.tensor([0, 1, 0]), th.tensor([0, 0, 1])
    batch = EpisodeBatch(g, r, steps, ids, old_log_prob=th.zeros(3), stale=th.zeros(3, dtype=th.bool))
    assert th.allclose(advantages(batch, gamma=GAMMA), g)
    assert th.allclose(advantages(batch, gamma=GAMMA, reward_to_go=False), r)
    assert th.allclose(advantages(batch, gamma=GAMMA, baseline="mean"), g - 3.0)
    # whole return, mean over episodes (3 + 4) / 2, whatever their lengths
    assert th.allclose(advantages(batch, gamma=GAMMA, reward_to_go=False, baseline="mean"), r - 3.5)
    assert th.allclose(advantages(batch, gamma=GAMMA, discount_weighting=True), g * th.tensor([1.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="values"):
        advantages(batch, gamma=GAMMA, baseline="value")
    batch.values = th.tensor([1.0, 1.0, 1.0])
    assert th.allclose(advantages(batch, gamma=GAMMA, baseline="value"), g - 1.0)
