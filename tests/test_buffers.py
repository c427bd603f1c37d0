"""
EpisodicRolloutBuffer: carry-over, drops, bounds (on its own, and in REINFORCE's rollouts), misuse, and work that
does not grow with the episode.
"""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE, EpisodicRolloutBuffer
from sb3_reinforce.common import buffers
from sb3_reinforce.common.returns import reward_to_go
from tests.helpers import FixedRewardEnv

GAMMA = 0.5


def make_buffer(n_steps: int = 4, n_envs: int = 1, **kwargs) -> EpisodicRolloutBuffer:
    obs_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    return EpisodicRolloutBuffer(n_steps, obs_space, spaces.Discrete(3), device="cpu", gamma=GAMMA, n_envs=n_envs, **kwargs)


class Feeder:
    """Feeds a buffer with episodes of given lengths (one list per env); observation = (global step, env)."""

    def __init__(self, buffer: EpisodicRolloutBuffer, lengths: list[int], reward: float = 1.0):
        self.buffer, self.lengths, self.reward = buffer, lengths, reward
        self.t = np.zeros(len(lengths), dtype=np.int64)  # step inside the running episode of each env
        self.step = 0
        self.episode_starts = np.ones(len(lengths), dtype=bool)

    def rollout(self, n_steps: int, episode_starts: np.ndarray | None = None) -> None:
        self.buffer.start_rollout(self.episode_starts if episode_starts is None else episode_starts)
        for _ in range(n_steps):
            n_envs = len(self.lengths)
            dones = self.t + 1 >= np.array(self.lengths)
            obs = np.stack([np.full(n_envs, self.step, dtype=np.float32), np.arange(n_envs, dtype=np.float32)], axis=1)
            self.buffer.add(
                obs, np.zeros(n_envs), np.full(n_envs, self.reward), self.episode_starts, th.zeros(n_envs), done=dones
            )
            self.episode_starts = dones
            self.t = np.where(dones, 0, self.t + 1)
            self.step += 1
        self.buffer.finalize()


def whole_batch(buffer: EpisodicRolloutBuffer):
    return next(buffer.get(), None)


def test_carry_over_across_rollouts() -> None:
    buffer = make_buffer(n_steps=4)
    feeder = Feeder(buffer, [10])
    feeder.rollout(4)
    feeder.rollout(4)
    assert whole_batch(buffer) is None and buffer.batch_steps == 0 and buffer.n_pending == 8
    feeder.rollout(4)  # the episode ends at step 10: rows 0-9 form the batch, 2 steps are pending
    batch = whole_batch(buffer)
    assert batch is not None and buffer.batch_episodes == 1 and buffer.n_pending == 2
    # G_t = sum_k 0.5^k over the steps left: 2 (1 - 0.5^(10 - t))
    assert np.allclose(batch.returns.numpy(), [2 * (1 - GAMMA ** (10 - t)) for t in range(10)])
    assert list(batch.episode_steps.numpy()) == list(range(10))
    assert list(batch.observations[:, 0].numpy()) == list(range(10))
    assert list(batch.stale.numpy()) == [True] * 8 + [False] * 2


def test_episodes_of_several_envs() -> None:
    buffer = make_buffer(n_steps=3, n_envs=2)
    feeder = Feeder(buffer, [2, 5])
    feeder.rollout(3)
    batch = whole_batch(buffer)
    # env 0's first episode (2 steps) ended; env 1's has not
    assert batch is not None and buffer.batch_steps == 2 and list(batch.observations[:, 1].numpy()) == [0, 0]
    feeder.rollout(3)
    batch = whole_batch(buffer)
    # env 0: the episodes of steps 2-3 and 4-5; env 1: the episode of steps 0-4 (step 5 is pending); row-major order
    assert batch is not None
    rows = [(0, 1), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1), (4, 0), (4, 1), (5, 0)]
    assert [tuple(o) for o in batch.observations.numpy().astype(int).tolist()] == rows
    assert list(batch.episode_steps.numpy()) == [0, 1, 0, 2, 1, 3, 0, 4, 1]
    assert buffer.batch_episodes == 3 and buffer.n_pending == 1


def test_orphan_dropped_after_outside_reset() -> None:
    buffer = make_buffer(n_steps=4)
    feeder = Feeder(buffer, [10])
    feeder.rollout(4)
    assert buffer.n_pending == 4
    # the env was reset from outside (e.g. a new learn()): its 4 pending steps can never be completed
    feeder.t[:] = 0
    feeder.rollout(4, episode_starts=np.array([True]))
    assert buffer.dropped_steps == 4
    assert buffer.n_pending == 4 and whole_batch(buffer) is None


def test_episode_with_unknown_start_is_dropped_when_it_ends() -> None:
    buffer = make_buffer(n_steps=4)
    feeder = Feeder(buffer, [6])
    feeder.t[:] = 3  # the env is mid-episode when the buffer first sees it (as after load with force_reset=False)
    feeder.episode_starts[:] = False
    feeder.rollout(4)  # steps 3, 4, 5 end the unknown episode; a new one starts
    assert buffer.dropped_steps == 3 and buffer.batch_steps == 0
    feeder.rollout(4)
    assert buffer.dropped_steps == 3 and buffer.n_pending == 6 - 1 + 0  # the new episode: 5 of its 6 steps so far


def test_growth_up_to_the_bound_and_the_error_past_it() -> None:
    buffer = make_buffer(n_steps=4, max_episode_steps=10)
    feeder = Feeder(buffer, [1000])
    feeder.rollout(8)
    assert len(buffer.blocks) == 2 and buffer.n_pending == 8
    with pytest.raises(RuntimeError, match="max_episode_steps=10"):
        feeder.rollout(4)


def test_byte_bound() -> None:
    buffer = make_buffer(n_steps=4)
    buffer = make_buffer(n_steps=4, max_bytes=3 * buffer.block_bytes)
    feeder = Feeder(buffer, [1000])
    feeder.rollout(12)
    assert buffer.held_bytes == 3 * buffer.block_bytes
    with pytest.raises(RuntimeError, match=r"max_bytes=.*TimeLimit.*fewer envs.*n_episodes"):
        feeder.rollout(1)


class NeverEndingEnv(FixedRewardEnv):
    def step(self, action):
        obs, reward, _, _, info = super().step(action)
        self.k = 0
        return obs, reward, False, False, info


def test_episode_without_end_is_bounded() -> None:
    model = REINFORCE(
        "MlpPolicy", DummyVecEnv([lambda: NeverEndingEnv([1.0])]), n_steps=16, rollout_buffer_kwargs=dict(max_episode_steps=50)
    )
    with pytest.raises(RuntimeError, match="TimeLimit"):
        model.learn(1000)
    # the buffer never held more than the bound plus one rollout: blocks of 16 rows
    assert len(model.rollout_buffer.blocks) <= (50 + 16) // 16 + 1


def test_episode_without_end_n_episodes_mode() -> None:
    model = REINFORCE(
        "MlpPolicy",
        DummyVecEnv([lambda: NeverEndingEnv([1.0])]),
        n_episodes=2,
        rollout_buffer_kwargs=dict(max_episode_steps=300),
    )
    with pytest.raises(RuntimeError, match="max_episode_steps=300"):
        model.learn(10_000)


@pytest.mark.parametrize("n_envs", [1, 3])
def test_work_per_rollout_does_not_depend_on_the_carried_over_length(n_envs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are never moved, and finalize() computes returns over the rows of the episodes that ended only."""
    rows_read: list[int] = []

    def recorded(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> np.ndarray:
        rows_read.append(len(rewards))
        return reward_to_go(rewards, dones, gamma)

    monkeypatch.setattr(buffers, "reward_to_go", recorded)
    n_steps, length = 4, 400
    buffer = make_buffer(n_steps=n_steps, n_envs=n_envs)
    feeder = Feeder(buffer, [length] * n_envs)
    feeder.rollout(n_steps)
    first_block = buffer.blocks[0]["obs/"]
    for _ in range(length // n_steps - 2):
        feeder.rollout(n_steps)
    # 398 steps carried over: no row was read (nor copied), and the first block is the same array
    assert rows_read == [] and buffer.blocks[0]["obs/"] is first_block
    feeder.rollout(2 * n_steps)  # every episode ends at step 400
    assert buffer.batch_steps == length * n_envs
    # the only reads: the rows of the episodes that ended, once
    assert rows_read == [length]
    feeder.rollout(n_steps)
    # the blocks of the used episodes are released
    assert sorted(buffer.blocks) == [length // n_steps, length // n_steps + 1]


def test_chunks_are_the_batch_in_order() -> None:
    buffer = make_buffer(n_steps=4, n_envs=2)
    feeder = Feeder(buffer, [3, 7])
    for _ in range(4):
        feeder.rollout(4)
    whole = whole_batch(buffer)
    assert whole is not None
    chunks = list(buffer.get(batch_size=3))
    assert [len(chunk.actions) for chunk in chunks] == [3] * (buffer.batch_steps // 3) + (
        [buffer.batch_steps % 3] if buffer.batch_steps % 3 else []
    )
    for name, value in whole._asdict().items():
        if value is None:  # the advantages, which the algorithm sets
            assert all(getattr(chunk, name) is None for chunk in chunks)
            continue
        assert th.equal(th.cat([getattr(chunk, name) for chunk in chunks]), value), name
    with pytest.raises(ValueError, match="batch_size"):
        next(buffer.get(batch_size=0))


def test_a_batch_that_fits_one_chunk_is_read_once() -> None:
    buffers_ = [make_buffer(n_steps=4, n_envs=2) for _ in range(2)]
    for buffer in buffers_:
        feeder = Feeder(buffer, [3, 7])
        for _ in range(4):
            feeder.rollout(4)
    read_whole, from_timeline = buffers_
    whole = whole_batch(read_whole)
    assert whole is not None
    # read once: every later read of the whole batch is the same tensors, and minibatches are taken from them
    again = whole_batch(read_whole)
    assert again is not None and again.observations is whole.observations and again.actions is whole.actions
    indices = np.array([0, 2, 3, 7, 8])
    chunks = zip(read_whole.get(2, indices=indices), from_timeline.get(2, indices=indices), strict=True)
    for start, (chunk, expected) in zip(range(0, len(indices), 2), chunks, strict=True):
        for name, value in chunk._asdict().items():
            if value is not None:
                assert th.equal(value, getattr(expected, name)), name
        assert th.equal(chunk.observations, whole.observations[th.as_tensor(indices[start : start + 2])])


def test_observations_keep_their_dtype() -> None:
    obs_space = spaces.Box(0, 255, (4, 4, 1), np.uint8)
    buffer = EpisodicRolloutBuffer(4, obs_space, spaces.Discrete(2), device="cpu", n_envs=1)
    assert buffer.blocks == {}
    buffer.start_rollout(np.array([True]))
    for step in range(3):
        obs = np.full((1, 4, 4, 1), 200 + step, dtype=np.uint8)
        buffer.add(obs, np.zeros(1), np.ones(1), np.array([step == 0]), th.zeros(1), done=np.array([step == 2]))
    buffer.finalize()
    assert buffer.blocks[0]["obs/"].dtype == np.uint8
    batch = whole_batch(buffer)
    assert batch is not None and batch.observations.dtype == th.uint8
    assert list(batch.observations[:, 0, 0, 0].numpy()) == [200, 201, 202]


def test_add_needs_done_and_gae_lambda_is_one() -> None:
    buffer = make_buffer()
    buffer.start_rollout(np.array([True]))
    with pytest.raises(ValueError, match=r"needs `done`.*REINFORCE.load"):
        buffer.add(np.zeros((1, 2)), np.zeros(1), np.ones(1), np.array([True]), th.zeros(1))
    with pytest.raises(ValueError, match="gae_lambda"):
        make_buffer(gae_lambda=0.95)


def test_buffer_misuse() -> None:
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=8)
    with pytest.raises(RuntimeError, match="finalize"):
        next(model.rollout_buffer.get())
    with pytest.raises(NotImplementedError, match=r"never bootstraps.*REINFORCE.load"):
        model.rollout_buffer.compute_returns_and_advantage(None, None)  # type: ignore[arg-type]
