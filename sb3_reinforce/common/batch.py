"""
The batch of REINFORCE's update: the steps of the episodes that ended since the previous update. :class:`EpisodeBatch`
holds the per-step quantities of the whole batch, and the algorithm sets its values and advantages once;
:class:`EpisodicRolloutBufferSamples` is a chunk or a minibatch of it, as the buffer yields them, with its share of
everything.
"""

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import TensorDict


class EpisodicRolloutBufferSamples(NamedTuple):
    """
    Steps of the episodes that ended since the previous update: the whole batch, or a chunk of it.

    :param observations: observations :math:`s_t`
    :param actions: actions :math:`a_t`
    :param old_log_prob: :math:`\\log \\pi_{old}(a_t|s_t)` recorded when the step was collected
    :param returns: reward-to-go :math:`G_t = \\sum_{k \\ge t} \\gamma^{k-t} r_k` (to the end of the episode)
    :param episode_returns: discounted return :math:`R(\\tau) = G_0` of the episode the step belongs to
    :param episode_steps: :math:`t`, counted from the true start of the episode (also across rollouts)
    :param episode_ids: index of the episode in the batch, in ``[0, batch_episodes)``
    :param stale: ``True`` for steps collected in an earlier rollout, i.e. under an older policy
    :param advantages: :math:`\\Psi_t` (:attr:`EpisodeBatch.advantages`), or None before the algorithm set it
    """

    observations: th.Tensor | TensorDict
    actions: th.Tensor
    old_log_prob: th.Tensor
    returns: th.Tensor
    episode_returns: th.Tensor
    episode_steps: th.Tensor
    episode_ids: th.Tensor
    stale: th.Tensor
    advantages: th.Tensor | None


@dataclass
class EpisodeBatch:
    """
    The per-step quantities of a batch: the steps of the episodes that ended since the previous update, in the order
    :meth:`EpisodicRolloutBuffer.get` yields them. The buffer sets the returns; the algorithm sets ``values`` and
    ``advantages`` once per batch, and every chunk or minibatch read from the buffer carries its share of them.

    :param returns: reward-to-go :math:`G_t` of each step
    :param episode_returns: :math:`R(\\tau) = G_0` of each step's episode
    :param episode_steps: :math:`t`, counted from the true start of the episode
    :param episode_ids: episode index of each step, in ``[0, n_episodes)``, numbered by start, then env
    :param old_log_prob: :math:`\\log \\pi_{old}(a_t|s_t)` recorded when the step was collected
    :param stale: ``True`` for steps collected in an earlier rollout
    :param values: :math:`V(s_t)` predicted by the value head before its fit on this batch, if it is used
    :param advantages: :math:`\\Psi_t`, the weight of step t's score term (``sb3_reinforce.common.returns.advantages``)
    """

    returns: th.Tensor
    episode_returns: th.Tensor
    episode_steps: th.Tensor
    episode_ids: th.Tensor
    old_log_prob: th.Tensor
    stale: th.Tensor
    values: th.Tensor | None = None
    advantages: th.Tensor | None = None

    def __len__(self) -> int:
        return len(self.returns)

    @property
    def n_episodes(self) -> int:
        """Number of episodes in the batch."""
        return int(self.episode_ids.max()) + 1 if len(self) > 0 else 0

    def samples(
        self, index: th.Tensor, observations: th.Tensor | TensorDict, actions: th.Tensor
    ) -> "EpisodicRolloutBufferSamples":
        """The steps ``index`` of the batch, with their ``observations`` and ``actions`` (read by the buffer)."""
        return EpisodicRolloutBufferSamples(
            observations=observations,
            actions=actions,
            old_log_prob=self.old_log_prob[index],
            returns=self.returns[index],
            episode_returns=self.episode_returns[index],
            episode_steps=self.episode_steps[index],
            episode_ids=self.episode_ids[index],
            stale=self.stale[index],
            advantages=None if self.advantages is None else self.advantages[index],
        )

    @classmethod
    def empty(cls, device: th.device) -> "EpisodeBatch":
        """A batch without steps."""
        return cls(
            *(th.zeros(0, dtype=dtype, device=device) for dtype in (th.float32,) * 2 + (th.int64,) * 2 + (th.float32, th.bool))
        )


class RolloutBufferFields:
    """
    The batch of the last rollout, read under the names of SB3's ``RolloutBuffer`` (from a callback's
    ``_on_rollout_end``, say): ``observations``, ``actions``, ``rewards``, ``episode_starts``, ``log_probs``,
    ``returns``, ``advantages`` and ``values``, as NumPy copies. Where SB3's have the shape ``(n_steps, n_envs, ...)``
    and hold the last ``n_steps`` steps, these have the shape ``(batch_steps, ...)`` and hold the steps of the
    episodes that ended, one row per step, in the order of :meth:`get`: ``observations`` ``(batch_steps, *obs_shape)``
    (a dict of them for Dict spaces), ``actions`` ``(batch_steps, action_dim)``, the others ``(batch_steps,)``.
    ``rewards`` include :math:`\\gamma V(s_T)` where ``bootstrap_truncated`` added it (as SB3 does), ``returns`` are
    :math:`G_t`, ``advantages`` :math:`\\Psi_t` before normalization, and ``values`` :math:`V(s_t)`. Every field is an
    array of the batch's length after any rollout: empty when no episode ended in it, and NaN where a quantity does
    not exist (``values`` where no value head is used). :meth:`sample` draws from the batch.
    """

    batch: EpisodeBatch
    fields: dict[str, tuple[tuple[int, ...], Any]]
    observation_space: spaces.Space

    def _field(self, name: str) -> np.ndarray:
        raise NotImplementedError

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> EpisodicRolloutBufferSamples:
        raise NotImplementedError

    def sample(self, batch_size: int, env: Any = None) -> EpisodicRolloutBufferSamples:
        """
        ``batch_size`` steps of the batch, drawn uniformly with replacement.

        :param batch_size: number of steps
        :param env: unused: observations are stored normalized, as the algorithm saw them (SB3's signature)
        """
        if len(self.batch) == 0:
            raise RuntimeError(
                "The batch is empty: no episode ended in the last rollout (or finalize() was not called). Sample after "
                "a rollout in which an episode ended (see carried_over in the logs)."
            )
        return self._get_samples(np.random.randint(0, len(self.batch), size=batch_size))

    @property
    def observations(self) -> np.ndarray | dict[str, np.ndarray]:
        """:math:`s_t` of the batch's steps, ``(batch_steps, *obs_shape)``, or a dict of them for Dict spaces."""
        obs = {name[4:]: self._field(name) for name in self.fields if name[:4] == "obs/"}
        return obs if isinstance(self.observation_space, spaces.Dict) else obs[""]

    @property
    def actions(self) -> np.ndarray:
        """:math:`a_t`, as sampled (before clipping to the action space), ``(batch_steps, action_dim)``."""
        return self._field("actions")

    @property
    def rewards(self) -> np.ndarray:
        """:math:`r_t`, ``(batch_steps,)``."""
        return self._field("rewards")

    @property
    def episode_starts(self) -> np.ndarray:
        """Whether the step is the first of its episode, ``(batch_steps,)``."""
        return self._field("episode_starts")

    @property
    def log_probs(self) -> np.ndarray:
        """:math:`\\log \\pi_{old}(a_t|s_t)`, recorded when the step was collected, ``(batch_steps,)``."""
        return self.batch.old_log_prob.cpu().numpy().copy()

    @property
    def returns(self) -> np.ndarray:
        """:math:`G_t`, ``(batch_steps,)``."""
        return self.batch.returns.cpu().numpy().copy()

    @property
    def advantages(self) -> np.ndarray:
        """:math:`\\Psi_t` before normalization, ``(batch_steps,)``; NaN until the algorithm has set it."""
        return self._per_step(self.batch.advantages)

    @property
    def values(self) -> np.ndarray:
        """:math:`V(s_t)` predicted before the fit, ``(batch_steps,)``; NaN where no value head is used."""
        return self._per_step(self.batch.values)

    def _per_step(self, values: th.Tensor | None) -> np.ndarray:
        """A per-step quantity of the batch, as a NumPy copy; NaN at every step where it is not set."""
        if values is None:
            return np.full(len(self.batch), np.nan, dtype=np.float32)
        return values.cpu().numpy().copy()
