"""
Rollout buffers that hold Monte Carlo returns of *complete* episodes.

SB3's :class:`~stable_baselines3.common.buffers.RolloutBuffer` stores exactly ``n_steps`` rows per update
and bootstraps the episodes cut by the end of the rollout with a value estimate. REINFORCE may not do
that. The buffers here keep a *timeline*: rows ``[0, pos)`` are consecutive environment steps (time
along the first axis, environments along the second). Each rollout appends rows to it. When a rollout
ends, every episode that has *ended* (terminated or truncated) is handed to the update with its
exact discounted return; the steps of an episode that is still running stay in the timeline and are
carried over to the next rollout, until that episode ends. Nothing is bootstrapped and nothing is
dropped, so long episodes weigh in the update exactly as often as short ones.
"""

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.type_aliases import TensorDict


class EpisodicRolloutBufferSamples(NamedTuple):
    """
    All the transitions of the episodes that ended since the previous update (one full batch).

    :param observations: observations :math:`s_t`
    :param actions: actions :math:`a_t`
    :param old_values: :math:`V(s_t)` recorded when the step was collected; zero from ``REINFORCE``, whose rollouts
        skip the value head (kept for the shape of SB3's ``RolloutBufferSamples``)
    :param old_log_prob: :math:`\\log \\pi_{old}(a_t|s_t)` recorded when the step was collected
    :param returns: reward-to-go :math:`G_t = \\sum_{k \\ge t} \\gamma^{k-t} r_k` (to the end of the episode)
    :param episode_returns: discounted return :math:`R(\\tau) = G_0` of the episode the step belongs to
    :param episode_steps: :math:`t`, counted from the true start of the episode (also across rollouts)
    :param episode_ids: index of the episode in the batch, in ``[0, n_episodes)``
    :param stale: ``True`` for steps collected in an earlier rollout, i.e. under an older policy
    """

    observations: th.Tensor | TensorDict
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    returns: th.Tensor
    episode_returns: th.Tensor
    episode_steps: th.Tensor
    episode_ids: th.Tensor
    stale: th.Tensor


class _EpisodicTimeline:
    """
    The timeline shared by :class:`EpisodicRolloutBuffer` and :class:`EpisodicDictRolloutBuffer`.
    It only touches observations through ``_obs_arrays`` / ``_set_obs_arrays`` / ``_store_obs`` / ``_obs_to_torch``.

    Use :meth:`start_rollout` at the start of each rollout (instead of ``reset``), :meth:`add` for every
    step (with ``done``), :meth:`finalize` at the end of the rollout and :meth:`get` to read the batch.

    :param buffer_size: Rows to allocate per environment for one rollout (``n_steps``);
        the buffer grows when more are needed (carried-over steps, ``n_episodes`` mode)
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: Unused (REINFORCE does not use GAE); accepted for SB3 compatibility and must be 1
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    :param max_episode_steps: Longest episode the buffer will hold. An episode that runs longer raises a
        ``RuntimeError`` (wrap the env in ``gymnasium.wrappers.TimeLimit`` or raise this bound), so that an
        env whose episodes never end cannot grow the buffer without limit.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        gae_lambda: float = 1.0,
        gamma: float = 0.99,
        n_envs: int = 1,
        max_episode_steps: int = 100_000,
    ):
        _check_buffer_args(gae_lambda, max_episode_steps)
        self.max_episode_steps = max_episode_steps
        self.n_steps = buffer_size
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs)  # type: ignore[call-arg]

    # Attributes of SB3's RolloutBuffer / DictRolloutBuffer that the timeline uses
    buffer_size: int
    n_envs: int
    pos: int
    full: bool
    gamma: float
    action_dim: int
    device: th.device
    generator_ready: bool
    actions: np.ndarray
    rewards: np.ndarray
    episode_starts: np.ndarray
    values: np.ndarray
    log_probs: np.ndarray
    # The timeline's own state
    dones: np.ndarray
    rollout_ids: np.ndarray
    rollout_id: int
    seg_start: np.ndarray
    headless: np.ndarray
    ep_len: np.ndarray
    n_dropped: int
    n_episodes: int
    n_transitions: int
    _batch: dict[str, np.ndarray]
    _batch_obs: dict[str, np.ndarray]

    def _obs_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_obs_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _store_obs(self, obs: Any) -> None:
        raise NotImplementedError

    def _obs_to_torch(self, arrays: dict[str, np.ndarray]) -> th.Tensor | TensorDict:
        raise NotImplementedError

    if TYPE_CHECKING:  # provided by SB3's BaseBuffer

        def to_torch(self, array: np.ndarray, copy: bool = True) -> th.Tensor: ...

    # --- the timeline ---
    def reset(self) -> None:
        """Clear the buffer, including the steps of unfinished episodes carried over."""
        super().reset()  # type: ignore[misc]
        self.dones = np.zeros((self.buffer_size, self.n_envs), dtype=bool)
        self.rollout_ids = np.zeros(self.buffer_size, dtype=np.int64)
        self.rollout_id = 0
        # First row of the running (unfinished) episode of each env
        self.seg_start = np.zeros(self.n_envs, dtype=np.int64)
        # Whether the running episode of each env started before the buffer saw it
        self.headless = np.zeros(self.n_envs, dtype=bool)
        # Length so far of the running episode of each env
        self.ep_len = np.zeros(self.n_envs, dtype=np.int64)
        self.n_dropped = 0
        self.n_episodes = 0
        self.n_transitions = 0
        self._batch = {}
        self._batch_obs = {}

    def _row_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"obs/{key}": value for key, value in self._obs_arrays().items()}
        for name in ("actions", "rewards", "episode_starts", "values", "log_probs", "dones"):
            arrays[name] = getattr(self, name)
        arrays["rollout_ids"] = self.rollout_ids
        return arrays

    def _move_rows(self, start: int, capacity: int) -> None:
        """Move rows ``[start, pos)`` to the front, in arrays of ``capacity`` rows (grown if needed)."""
        n_keep = self.pos - start
        new_obs = {}
        for name, array in self._row_arrays().items():
            if capacity != array.shape[0]:
                new_array = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
                new_array[:n_keep] = array[start : self.pos]
            else:
                new_array = array
                if start > 0:
                    # numpy handles the overlap of the two slices
                    new_array[:n_keep] = array[start : self.pos]
            if name.startswith("obs/"):
                new_obs[name[4:]] = new_array
            else:
                setattr(self, name, new_array)
        self._set_obs_arrays(new_obs)
        self.buffer_size = capacity
        self.seg_start -= start
        self.pos = n_keep
        self.full = self.pos == self.buffer_size

    def start_rollout(self, episode_starts: np.ndarray) -> None:
        """
        Start a rollout: keep the steps of the episodes still running, forget the rest.

        :param episode_starts: for each env, whether its next step starts a new episode (the algorithm's
            ``_last_episode_starts``). An env that has unfinished steps in the buffer but whose next step
            starts a new episode was reset from outside (e.g. a new ``learn()`` call): its unfinished
            steps can never be completed and are dropped (counted in ``n_dropped``). An env whose current
            episode started before the buffer saw it (e.g. after ``load``) is marked *headless*: the
            steps of that episode are dropped when it ends, since its return is not known.
        """
        episode_starts = np.asarray(episode_starts, dtype=bool)
        pending = self.pos - self.seg_start
        orphans = (pending > 0) & episode_starts
        self.n_dropped += int(pending[orphans].sum())
        self.seg_start[orphans] = self.pos
        self.headless = (self.headless & ~episode_starts) | ((pending == 0) & ~episode_starts)
        self.ep_len[episode_starts] = 0
        start = int(self.seg_start.min())
        capacity = max(self.buffer_size, self.pos - start + self.n_steps)
        self._move_rows(start, capacity)
        self.rollout_id += 1
        self.generator_ready = False

    def add(
        self,
        obs: Any,
        action: np.ndarray,
        reward: np.ndarray,
        episode_start: np.ndarray,
        value: th.Tensor | None,
        log_prob: th.Tensor,
        done: np.ndarray | None = None,
    ) -> None:
        """
        :param obs: Observation
        :param action: Action
        :param reward: Reward
        :param episode_start: Start of episode signal
        :param value: Estimated value of the observation (``None`` when the value head is not used)
        :param log_prob: Log probability of the action under the policy that chose it
        :param done: Whether the step ended the episode (terminated or truncated). Required.
        """
        if done is None:
            raise ValueError("EpisodicRolloutBuffer.add() needs `done`: the done flags returned by env.step().")
        if self.pos == self.buffer_size:
            # n_episodes mode, or carried-over steps: grow (amortized doubling)
            self._move_rows(0, 2 * self.buffer_size)
        self.ep_len = self.ep_len * (1 - np.asarray(episode_start, dtype=np.int64)) + 1
        if self.ep_len.max() > self.max_episode_steps:
            env_idx = int(self.ep_len.argmax())
            raise RuntimeError(
                f"The episode running in env {env_idx} is longer than max_episode_steps={self.max_episode_steps} "
                "steps without ending. REINFORCE needs complete episodes and keeps every step of a running episode "
                "in memory. Wrap the env in gymnasium.wrappers.TimeLimit(env, max_episode_steps=...) (or pass "
                "`max_episode_steps` to gymnasium.make), or raise the bound with "
                "rollout_buffer_kwargs=dict(max_episode_steps=...)."
            )
        self._store_obs(obs)
        self.actions[self.pos] = action.reshape((self.n_envs, self.action_dim))
        self.rewards[self.pos] = reward
        self.episode_starts[self.pos] = episode_start
        self.dones[self.pos] = done
        if value is not None:
            self.values[self.pos] = value.cpu().numpy().flatten()
        else:
            self.values[self.pos] = 0.0
        self.log_probs[self.pos] = log_prob.cpu().numpy().reshape(self.n_envs)
        self.rollout_ids[self.pos] = self.rollout_id
        self.pos += 1
        self.full = self.pos == self.buffer_size

    @property
    def n_pending(self) -> int:
        """Number of steps (over all envs) of episodes that are still running."""
        return int((self.pos - self.seg_start).sum())

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        raise NotImplementedError(
            "EpisodicRolloutBuffer never bootstraps from `last_values`: call finalize() at the end of a rollout."
        )

    def finalize(self) -> None:
        """
        End the rollout: compute the Monte Carlo returns of every episode that has ended and select its
        steps for the update. Steps of running episodes stay in the buffer for the next rollout.
        """
        n_rows, n_envs = self.pos, self.n_envs
        dones = self.dones[:n_rows]
        starts = self.episode_starts[:n_rows] > 0.5
        rewards = self.rewards[:n_rows]
        rows = np.arange(n_rows)[:, None]

        # Reward-to-go, backward over time and vectorized over envs: G_t = r_t + gamma * G_{t+1} * (1 - done_t)
        returns = np.zeros((n_rows, n_envs), dtype=np.float64)
        running = np.zeros(n_envs, dtype=np.float64)
        not_done = ~dones
        for step in range(n_rows - 1, -1, -1):
            running = rewards[step] + self.gamma * running * not_done[step]
            returns[step] = running

        in_segment = rows >= self.seg_start[None]
        ended = dones & in_segment
        any_done = ended.any(axis=0)
        last_done = np.where(any_done, n_rows - 1 - ended[::-1].argmax(axis=0), -1)
        first_done = np.where(any_done, ended.argmax(axis=0), -1)
        completed = in_segment & (rows <= last_done[None])
        headless_rows = completed & self.headless[None] & (rows <= first_done[None])
        self.n_dropped += int(headless_rows.sum())
        valid = completed & ~headless_rows
        self.headless &= ~any_done
        self.seg_start = np.where(any_done, last_done + 1, self.seg_start)

        # Episode structure: the row where each step's episode started (always inside the buffer for valid rows)
        start_rows = np.maximum.accumulate(np.where(starts, rows, 0), axis=0)
        episode_steps = rows - start_rows
        episode_returns = np.take_along_axis(returns, start_rows, axis=0)
        time_idx, env_idx = np.nonzero(valid)
        keys = start_rows[time_idx, env_idx] * n_envs + env_idx
        _, episode_ids = np.unique(keys, return_inverse=True)

        self._batch_obs = {key: array[time_idx, env_idx] for key, array in self._obs_arrays().items()}
        self._batch = {
            "actions": self.actions[time_idx, env_idx].astype(np.float32, copy=False),
            "old_values": self.values[time_idx, env_idx],
            "old_log_prob": self.log_probs[time_idx, env_idx],
            "returns": returns[time_idx, env_idx].astype(np.float32),
            "episode_returns": episode_returns[time_idx, env_idx].astype(np.float32),
            "episode_steps": episode_steps[time_idx, env_idx],
            "episode_ids": episode_ids.reshape(-1).astype(np.int64),
            "stale": self.rollout_ids[time_idx] < self.rollout_id,
        }
        self.n_episodes = int(episode_ids.max()) + 1 if len(episode_ids) > 0 else 0
        self.n_transitions = len(time_idx)
        self.generator_ready = True

    def get(self, batch_size: int | None = None) -> Generator[EpisodicRolloutBufferSamples, None, None]:
        """
        Yield the whole batch of completed-episode steps as one sample (REINFORCE takes one gradient step).

        :param batch_size: must be ``None``: the score-function estimate uses every complete episode at once
        """
        if batch_size is not None:
            raise ValueError(f"EpisodicRolloutBuffer.get() yields one full batch; got batch_size={batch_size}, use None.")
        if not self.generator_ready:
            raise RuntimeError("Call finalize() at the end of the rollout before get().")
        if self.n_transitions == 0:
            return
        batch = self._batch
        yield EpisodicRolloutBufferSamples(
            observations=self._obs_to_torch(self._batch_obs),
            actions=self.to_torch(batch["actions"]),
            old_values=self.to_torch(batch["old_values"]),
            old_log_prob=self.to_torch(batch["old_log_prob"]),
            returns=self.to_torch(batch["returns"]),
            episode_returns=self.to_torch(batch["episode_returns"]),
            episode_steps=th.as_tensor(batch["episode_steps"], device=self.device),
            episode_ids=th.as_tensor(batch["episode_ids"], device=self.device),
            stale=th.as_tensor(batch["stale"], device=self.device),
        )


class EpisodicRolloutBuffer(_EpisodicTimeline, RolloutBuffer):  # type: ignore[misc]
    """
    Rollout buffer for REINFORCE: Monte Carlo returns from complete episodes, with carry-over.

    Use :meth:`start_rollout` at the start of each rollout (instead of ``reset``), :meth:`add` for every
    step (with ``done``), :meth:`finalize` at the end of the rollout and :meth:`get` to read the batch.

    :param buffer_size: Rows to allocate per environment for one rollout (``n_steps``);
        the buffer grows when more are needed (carried-over steps, ``n_episodes`` mode)
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: Unused (REINFORCE does not use GAE); accepted for SB3 compatibility and must be 1
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    :param max_episode_steps: Longest episode the buffer will hold. An episode that runs longer raises a
        ``RuntimeError`` (wrap the env in ``gymnasium.wrappers.TimeLimit`` or raise this bound), so that an
        env whose episodes never end cannot grow the buffer without limit.
    """

    observations: np.ndarray

    def _obs_arrays(self) -> dict[str, np.ndarray]:
        return {"": self.observations}

    def _set_obs_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.observations = arrays[""]

    def _store_obs(self, obs: Any) -> None:
        if isinstance(self.observation_space, spaces.Discrete):
            obs = obs.reshape((self.n_envs, *self.obs_shape))
        self.observations[self.pos] = obs

    def _obs_to_torch(self, arrays: dict[str, np.ndarray]) -> th.Tensor | TensorDict:
        return self.to_torch(arrays[""])


class EpisodicDictRolloutBuffer(_EpisodicTimeline, DictRolloutBuffer):  # type: ignore[misc]
    """
    :class:`EpisodicRolloutBuffer` for ``Dict`` observation spaces (``MultiInputPolicy``).

    :param buffer_size: Rows to allocate per environment for one rollout (``n_steps``)
    :param observation_space: Observation space (``spaces.Dict``)
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: Unused; accepted for SB3 compatibility and must be 1
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    :param max_episode_steps: Longest episode the buffer will hold (see :class:`EpisodicRolloutBuffer`)
    """

    observation_space: spaces.Dict
    obs_shape: dict[str, tuple[int, ...]]
    observations: dict[str, np.ndarray]

    def _obs_arrays(self) -> dict[str, np.ndarray]:
        return self.observations

    def _set_obs_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.observations = arrays

    def _store_obs(self, obs: Any) -> None:
        for key in self.observations.keys():
            obs_ = np.asarray(obs[key])
            if isinstance(self.observation_space.spaces[key], spaces.Discrete):
                obs_ = obs_.reshape((self.n_envs, *self.obs_shape[key]))
            self.observations[key][self.pos] = obs_

    def _obs_to_torch(self, arrays: dict[str, np.ndarray]) -> th.Tensor | TensorDict:
        return {key: self.to_torch(array) for key, array in arrays.items()}


EPISODIC_BUFFERS = (EpisodicRolloutBuffer, EpisodicDictRolloutBuffer)


def _check_buffer_args(gae_lambda: float, max_episode_steps: int) -> None:
    if gae_lambda != 1.0:
        raise ValueError(f"gae_lambda={gae_lambda}: REINFORCE uses Monte Carlo returns, which is gae_lambda=1.0.")
    if not isinstance(max_episode_steps, (int, np.integer)) or max_episode_steps < 1:
        raise ValueError(f"max_episode_steps must be an integer >= 1, got {max_episode_steps!r}.")
