"""
The rollout buffer of REINFORCE: Monte Carlo returns of *complete* episodes, with carry-over.

SB3's :class:`~stable_baselines3.common.buffers.RolloutBuffer` holds exactly ``n_steps`` rows per update and
bootstraps the episodes cut by the end of the rollout with a value estimate. REINFORCE may not do that. This buffer
keeps a *timeline*: row ``r`` holds the ``r``-th step of every env (time along the rows, envs along the columns).
When a rollout ends, every episode that has *ended* (terminated or truncated) goes into the batch of the update
with its exact discounted return; the steps of an episode that is still running stay in the timeline, and join a
later batch when the episode ends. Nothing is bootstrapped and nothing is dropped, so long episodes weigh in the
update exactly as often as short ones.

The cost per step does not depend on the length of the episodes. The timeline is stored in blocks of
``buffer_size`` rows that never move: a block is allocated when the timeline reaches it, and released once every
step in it has been used. Each step's return is computed once, when the rollout in which its episode ends is over.
Observations keep their dtype (``uint8`` images stay ``uint8``), read per chunk (a batch that fits one: once).
"""

import itertools
from collections.abc import Generator
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.type_aliases import TensorDict
from stable_baselines3.common.vec_env import VecNormalize

from sb3_reinforce.common.batch import EpisodeBatch, EpisodicRolloutBufferSamples, RolloutBufferFields
from sb3_reinforce.common.returns import episode_layout, reward_to_go

# When chunk_size is None: steps per pass of the update, at most, and bytes of their float32 observations, at most
AUTO_CHUNK_STEPS, AUTO_CHUNK_BYTES = 8192, 4 * 2**20


def auto_chunk_size(observation_space: spaces.Space) -> int:
    """Steps per pass of the update when ``chunk_size`` is None: at most ``AUTO_CHUNK_STEPS``, and ``AUTO_CHUNK_BYTES``."""
    return max(1, min(AUTO_CHUNK_STEPS, AUTO_CHUNK_BYTES // (4 * get_flattened_obs_dim(observation_space))))


WRONG_CLASS = (
    "If this model was saved by REINFORCE and loaded with another algorithm's class (e.g. stable_baselines3.A2C.load), "
    "load it with sb3_reinforce.REINFORCE.load(path) instead: A2C and PPO cannot train with REINFORCE's buffer."
)


class EpisodicRolloutBuffer(RolloutBufferFields, BaseBuffer):
    """
    Rollout buffer for REINFORCE: Monte Carlo returns from complete episodes, with carry-over. It holds Box, Discrete,
    MultiDiscrete, MultiBinary and Dict observations.

    Call :meth:`start_rollout` at the start of each rollout (instead of ``reset``), :meth:`add` for every step (with
    ``done``), :meth:`finalize` at the end of the rollout, then :meth:`get` to read the batch.

    After a rollout, the batch can also be read under the names of SB3's ``RolloutBuffer`` (``RolloutBufferFields``).

    :param buffer_size: Rows per block of the timeline (``n_steps``: one rollout's steps per env)
    :param observation_space: Observation space
    :param action_space: Action space
    :param device: PyTorch device
    :param gae_lambda: REINFORCE's returns are Monte Carlo, which is ``gae_lambda=1``; accepted for SB3's signature
        and must be 1
    :param gamma: Discount factor
    :param n_envs: Number of parallel environments
    :param max_episode_steps: Longest episode the buffer will hold. An episode that runs longer raises a
        ``RuntimeError`` (wrap the env in ``gymnasium.wrappers.TimeLimit`` or raise this bound), so that an
        env whose episodes never end cannot grow the buffer without limit.
    :param max_bytes: Most bytes the held steps may take (observations, actions and the per-step scalars, over all
        envs). A block that would go past it raises a ``RuntimeError`` that names the remedies, instead of running
        the machine out of memory.
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
        max_bytes: int = 8 * 2**30,
    ):
        if gae_lambda != 1.0:
            raise ValueError(
                f"gae_lambda={gae_lambda}: REINFORCE uses Monte Carlo returns of complete episodes, which is gae_lambda=1."
            )
        if (
            not isinstance(max_episode_steps, (int, np.integer))
            or isinstance(max_episode_steps, bool)
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be an integer >= 1, got {max_episode_steps!r}.")
        if not isinstance(max_bytes, (int, np.integer)) or isinstance(max_bytes, bool) or max_bytes < 1:
            raise ValueError(f"max_bytes must be an integer >= 1, got {max_bytes!r}.")
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs)
        self.gamma = gamma
        self.max_episode_steps = max_episode_steps
        self.max_bytes = max_bytes
        # One shape and dtype per stored field; Dict observations get one field per key
        obs_spaces = observation_space.spaces if isinstance(observation_space, spaces.Dict) else {"": observation_space}
        obs_shapes: Any = self.obs_shape if isinstance(observation_space, spaces.Dict) else {"": self.obs_shape}
        self.fields: dict[str, tuple[tuple[int, ...], Any]] = {
            f"obs/{key}": (tuple(obs_shapes[key]), space.dtype) for key, space in obs_spaces.items()
        }
        self.fields.update(
            actions=((self.action_dim,), np.float32),
            rewards=((), np.float32),
            episode_starts=((), bool),
            dones=((), bool),
            log_probs=((), np.float32),
            # the rollout that collected the step: a step of an earlier rollout is stale
            rollouts=((), np.int32),
        )
        # Bytes of one block: every field
        self.block_bytes = (
            buffer_size * n_envs * sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in self.fields.values())
        )
        self.reset()

    @property
    def held_bytes(self) -> int:
        """Bytes of the blocks allocated now."""
        return len(self.blocks) * self.block_bytes

    def reset(self) -> None:
        """Clear the buffer, including the steps of unfinished episodes carried over."""
        super().reset()
        self.blocks: dict[int, dict[str, np.ndarray]] = {}
        self.rollout = 0
        # Per env: first row not yet used (the start of its running episode, or ``pos``), its last ``done`` row,
        # the length so far of its running episode, and whether that episode started before the buffer saw it
        self.pending_start = np.zeros(self.n_envs, dtype=np.int64)
        self.last_done = np.full(self.n_envs, -1, dtype=np.int64)
        self.episode_length = np.zeros(self.n_envs, dtype=np.int64)
        self.start_unknown = np.zeros(self.n_envs, dtype=bool)
        self.dropped_steps = 0
        self._set_batch(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), {})
        self.generator_ready = False

    # --- the timeline ---
    def _block(self, row: int) -> dict[str, np.ndarray]:
        index = row // self.buffer_size
        if index not in self.blocks:
            if self.held_bytes + self.block_bytes > self.max_bytes:
                raise RuntimeError(
                    f"The steps of running episodes would take more than max_bytes={self.max_bytes} bytes "
                    f"({len(self.blocks) + 1} blocks of {self.buffer_size} steps x {self.n_envs} envs, "
                    f"{self.block_bytes} bytes each). REINFORCE keeps every step of an episode until it ends. Shorten "
                    "the episodes (gymnasium.wrappers.TimeLimit), use fewer envs, or set n_episodes; or raise the "
                    "bound with rollout_buffer_kwargs=dict(max_bytes=...) if the machine has the memory."
                )
            shape = (self.buffer_size, self.n_envs)
            self.blocks[index] = {
                name: np.zeros((*shape, *field), dtype=dtype) for name, (field, dtype) in self.fields.items()
            }
        return self.blocks[index]

    def _read(self, name: str, rows: np.ndarray, envs: np.ndarray | None = None) -> np.ndarray:
        """Field ``name`` at timeline ``rows``, all columns, or column ``envs[i]`` for row ``rows[i]``."""
        order = np.argsort(rows, kind="stable") if (np.diff(rows) < 0).any() else None
        if order is not None:
            rows, envs = rows[order], (None if envs is None else envs[order])
        block_of = rows // self.buffer_size
        bounds = [0, *(np.flatnonzero(np.diff(block_of)) + 1), len(rows)]
        out: np.ndarray | None = None
        for lo, hi in itertools.pairwise(bounds):
            index = int(block_of[lo])
            local = rows[lo:hi] - index * self.buffer_size
            source, flat = self.blocks[index][name], local
            if envs is not None:
                # Rows x envs flattened, so that np.take writes into ``out`` without a temporary copy
                source, flat = source.reshape(-1, *source.shape[2:]), local * self.n_envs + envs[lo:hi]
            if out is None:
                out = np.empty((len(rows), *source.shape[1:]), dtype=source.dtype)
            np.take(source, flat, axis=0, out=out[lo:hi])
        assert out is not None, "no rows to read"
        if order is not None:
            out[order] = out.copy()
        return out

    def start_rollout(self, episode_starts: np.ndarray) -> None:
        """
        Start a rollout: keep the steps of the episodes still running, release the blocks that hold no other step.

        :param episode_starts: for each env, whether its next step starts a new episode (the algorithm's
            ``_last_episode_starts``). An env that has unfinished steps in the buffer but whose next step
            starts a new episode was reset from outside (e.g. a new ``learn()`` call): its unfinished
            steps can never be completed and are dropped (counted in ``dropped_steps``). An env whose current
            episode started before the buffer saw it (e.g. after ``load`` with ``force_reset=False``) has
            ``start_unknown`` set: the steps of that episode are dropped when it ends, since its return is unknown.
        """
        episode_starts = np.asarray(episode_starts, dtype=bool)
        pending = self.pos - self.pending_start
        orphans = (pending > 0) & episode_starts
        self.dropped_steps += int(pending[orphans].sum())
        self.pending_start[orphans] = self.pos
        self.start_unknown = (self.start_unknown & ~episode_starts) | ((pending == 0) & ~episode_starts)
        self.episode_length[episode_starts] = 0
        first_kept = int(self.pending_start.min()) // self.buffer_size
        for index in [index for index in self.blocks if index < first_kept]:
            del self.blocks[index]
        self.rollout += 1
        self.generator_ready = False

    def add(
        self,
        obs: Any,
        action: np.ndarray,
        reward: np.ndarray,
        episode_start: np.ndarray,
        log_prob: th.Tensor,
        done: np.ndarray | None = None,
    ) -> None:
        """
        :param obs: Observation
        :param action: Action
        :param reward: Reward
        :param episode_start: Start of episode signal
        :param log_prob: Log probability of the action under the policy that chose it
        :param done: Whether the step ended the episode (terminated or truncated). Required.
        """
        if done is None or isinstance(done, th.Tensor):
            # A2C and PPO call add(obs, action, reward, episode_start, values, log_probs): no dones
            raise ValueError("EpisodicRolloutBuffer.add() needs `done`: the done flags returned by env.step(). " + WRONG_CLASS)
        self.episode_length = self.episode_length * ~np.asarray(episode_start, dtype=bool) + 1
        if self.episode_length.max() > self.max_episode_steps:
            raise RuntimeError(
                f"The episode running in env {int(self.episode_length.argmax())} is longer than max_episode_steps="
                f"{self.max_episode_steps} steps without ending. REINFORCE needs complete episodes and keeps every "
                "step of a running episode in memory. Wrap the env in gymnasium.wrappers.TimeLimit(env, "
                "max_episode_steps=...) (or pass `max_episode_steps` to gymnasium.make), or raise the bound with "
                "rollout_buffer_kwargs=dict(max_episode_steps=...)."
            )
        block, row = self._block(self.pos), self.pos % self.buffer_size
        if isinstance(obs, dict):
            for key, value in obs.items():
                block[f"obs/{key}"][row] = np.asarray(value).reshape(block[f"obs/{key}"].shape[1:])
        else:
            block["obs/"][row] = np.asarray(obs).reshape(block["obs/"].shape[1:])
        block["actions"][row] = np.asarray(action).reshape((self.n_envs, self.action_dim))
        block["rewards"][row] = reward
        block["episode_starts"][row] = episode_start
        block["dones"][row] = done
        block["log_probs"][row] = log_prob.cpu().numpy().reshape(self.n_envs)
        block["rollouts"][row] = self.rollout
        self.last_done[np.asarray(done, dtype=bool)] = self.pos
        self.pos += 1

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        """What A2C and PPO call at the end of a rollout: REINFORCE never bootstraps (it calls :meth:`finalize`)."""
        raise NotImplementedError("EpisodicRolloutBuffer never bootstraps from a value estimate. " + WRONG_CLASS)

    @property
    def n_pending(self) -> int:
        """Number of steps (over all envs) of episodes that are still running."""
        return int((self.pos - self.pending_start).sum())

    def finalize(self) -> None:
        """
        End the rollout: compute the Monte Carlo returns of every episode that has ended and select its steps for
        the update. Steps of running episodes stay in the buffer for the next rollout. Only the rows of the episodes
        that ended are read (and those of other envs beside them).
        """
        ended = self.last_done >= self.pending_start
        self.generator_ready = True
        if not ended.any():
            self._set_batch(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), {})
            return
        first, last = int(self.pending_start[ended].min()), int(self.last_done[ended].max())
        rows = np.arange(first, last + 1)
        dones, starts = self._read("dones", rows), self._read("episode_starts", rows)
        returns = reward_to_go(self._read("rewards", rows), dones, self.gamma)

        # The used rows of env e are [pending_start[e], last_done[e]]; the first episode there is dropped if its
        # start is unknown
        local = rows[:, None]
        used = ended[None] & (local >= self.pending_start[None]) & (local <= self.last_done[None])
        first_done = np.where(ended, first + (dones & used).argmax(axis=0), -1)
        unknown = used & self.start_unknown[None] & (local <= first_done[None])
        self.dropped_steps += int(unknown.sum())
        self.start_unknown &= ~ended
        self.pending_start[ended] = self.last_done[ended] + 1

        time_idx, env_idx, start_idx, episode_ids = episode_layout(starts, used & ~unknown)
        self._set_batch(
            first + time_idx,
            env_idx,
            {
                "returns": returns[time_idx, env_idx].astype(np.float32),
                "episode_returns": returns[start_idx, env_idx].astype(np.float32),
                "episode_steps": time_idx - start_idx,
                "episode_ids": episode_ids,
            },
        )

    def _set_batch(self, rows: np.ndarray, envs: np.ndarray, scalars: dict[str, np.ndarray]) -> None:
        """Select the batch: timeline ``rows`` and columns ``envs`` of its steps, and their per-step scalars."""
        self.batch_rows, self.batch_envs = rows, envs
        # The batch's observations and actions, once they have been read whole (see ``get``)
        self._whole: tuple[th.Tensor | TensorDict, th.Tensor] | None = None
        if len(rows) == 0:
            self.batch = EpisodeBatch.empty(self.device)
            return
        scalars["old_log_prob"] = self._read("log_probs", rows, envs)
        scalars["stale"] = self._read("rollouts", rows, envs) < self.rollout
        self.batch = EpisodeBatch(**{name: th.as_tensor(value, device=self.device) for name, value in scalars.items()})

    @property
    def batch_steps(self) -> int:
        """Number of steps in the batch."""
        return len(self.batch)

    @property
    def batch_episodes(self) -> int:
        """Number of episodes in the batch."""
        return self.batch.n_episodes

    def size(self) -> int:
        """Number of steps in the batch (what ``sample`` draws from)."""
        return self.batch_steps

    def _field(self, name: str) -> np.ndarray:
        """Field ``name`` of the batch's steps, read from the timeline (``RolloutBufferFields``)."""
        shape, dtype = self.fields[name]
        if self.batch_steps == 0:
            return np.zeros((0, *shape), dtype=dtype)
        return self._read(name, self.batch_rows, self.batch_envs)

    def get(
        self, batch_size: int | None = None, indices: np.ndarray | None = None
    ) -> Generator[EpisodicRolloutBufferSamples, None, None]:
        """
        Yield steps of the batch of completed episodes, in chunks of ``batch_size`` steps (all at once if None):
        every step in order, or the steps ``indices``. REINFORCE takes one gradient step over the whole batch,
        accumulated over the chunks. A batch that fits one chunk is read from the timeline once, then served from
        memory: by the later calls, and for any ``indices``.

        :param batch_size: Number of steps per chunk, or None for the whole batch
        :param indices: increasing indices into the batch, or None for every step
        """
        if not self.generator_ready:
            raise RuntimeError("Call finalize() at the end of the rollout before get().")
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
            raise ValueError(f"batch_size must be None or an integer >= 1, got {batch_size!r}.")
        n_steps = self.batch_steps
        if self._whole is None and 0 < n_steps <= (batch_size or n_steps):
            every = np.arange(n_steps)
            self._whole = self.read_observations(every), self._read_actions(every)
        steps = np.arange(n_steps) if indices is None else indices
        chunk = batch_size or max(len(steps), 1)
        for start in range(0, len(steps), chunk):
            yield self._get_samples(steps[start : start + chunk])

    def _read_actions(self, batch_inds: np.ndarray) -> th.Tensor:
        return th.as_tensor(
            self._read("actions", self.batch_rows[batch_inds], self.batch_envs[batch_inds]), device=self.device
        )

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> EpisodicRolloutBufferSamples:  # type: ignore[override]
        """
        The steps ``batch_inds`` of the batch, read from the timeline, or from memory if the batch was read whole.

        :param batch_inds: indices into the batch
        :param env: unused: observations are stored normalized, as the algorithm saw them (SB3's signature)
        """
        index = th.as_tensor(batch_inds, device=self.device)
        observations = self.read_observations(batch_inds, index)
        if self._whole is None:
            actions = self._read_actions(batch_inds)
        else:  # the whole batch's actions for its whole observations, else the same steps of them
            actions = self._whole[1] if observations is self._whole[0] else self._whole[1][index]
        return self.batch.samples(index, observations, actions)

    def read_observations(self, batch_inds: np.ndarray, index: th.Tensor | None = None) -> th.Tensor | TensorDict:
        """
        The observations of the steps ``batch_inds`` of the batch alone (what a value head regresses on), from memory
        if the batch was read whole, else from the timeline.

        :param batch_inds: indices into the batch
        :param index: the same indices as a tensor on the buffer's device, if already made
        """
        if self._whole is not None:
            whole = self._whole[0]
            if len(batch_inds) == self.batch_steps and (np.diff(batch_inds) > 0).all():
                return whole  # every step, in order
            index = th.as_tensor(batch_inds, device=self.device) if index is None else index
            return {key: value[index] for key, value in whole.items()} if isinstance(whole, dict) else whole[index]
        rows, envs = self.batch_rows[batch_inds], self.batch_envs[batch_inds]
        obs = {
            name[4:]: th.as_tensor(self._read(name, rows, envs), device=self.device)
            for name in self.fields
            if name[:4] == "obs/"
        }
        return obs if isinstance(self.observation_space, spaces.Dict) else obs[""]


EpisodicDictRolloutBuffer = EpisodicRolloutBuffer  # for code written against 0.1.0 (Dict observations had their own)
