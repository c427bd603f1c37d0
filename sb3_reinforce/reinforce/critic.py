"""
The value head of REINFORCE: its predictions for the baseline and for bootstrapping time limits, and its fit apart
from the policy (``n_critic_updates``).

Fitted jointly (SB3's way: one loss, one clipped gradient), the value loss, whose gradient grows with the scale of
the returns, takes nearly all of the clipped norm and leaves the policy almost nothing (benchmarks/notes.md,
LunarLander-v3: value gradient norm 280-400 against 0.03-0.1 for the policy). Fitted apart, with an optimizer and a
clipping of its own, it cannot starve the policy, whatever the reward scale (the names follow sb3-contrib's TRPO).
"""

from collections.abc import Iterator

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.type_aliases import Schedule, TensorDict
from stable_baselines3.common.utils import explained_variance

from sb3_reinforce.common.buffers import EpisodicRolloutBuffer, EpisodicRolloutBufferSamples

# Modules that only the value head uses (a features extractor shared with the actor is not one of them)
CRITIC_MODULES = ("value_net.", "mlp_extractor.value_net.", "vf_features_extractor.")


class ValueTargets:
    """
    What the value head regresses: the Monte Carlo returns :math:`G_t`, or with ``normalize``, :math:`(G_t - \\mu) /
    \\sigma`, :math:`\\mu` and :math:`\\sigma` the running mean and std of the returns of the batches seen so far. Its
    outputs map back to :math:`V(s_t) = \\sigma \\hat v(s_t) + \\mu`. The statistics are updated with a batch only after
    its baseline is computed: a baseline that depended on the batch's own returns would bias the gradient.

    :param normalize: whether to standardize the targets
    :param epsilon: added to the variance before its square root
    """

    def __init__(self, normalize: bool, epsilon: float = 1e-8):
        self.normalize, self.epsilon = normalize, epsilon
        self.rms = RunningMeanStd(shape=())

    @property
    def mean(self) -> float:
        """:math:`\\mu` (0 without ``normalize``)."""
        return float(self.rms.mean) if self.normalize else 0.0

    @property
    def std(self) -> float:
        """:math:`\\sigma` (1 without ``normalize``)."""
        return float(np.sqrt(self.rms.var + self.epsilon)) if self.normalize else 1.0

    def update(self, returns: th.Tensor) -> None:
        """Add a batch's returns to the running statistics."""
        if self.normalize:
            self.rms.update(returns.detach().cpu().double().numpy())

    def targets(self, returns: th.Tensor) -> th.Tensor:
        """The regression targets of the returns :math:`G_t`."""
        return (returns - self.mean) / self.std if self.normalize else returns

    def values(self, outputs: th.Tensor) -> th.Tensor:
        """:math:`V(s_t)`, in the returns' scale, from the value head's outputs."""
        return outputs * self.std + self.mean if self.normalize else outputs


def predict_values(
    policy: ActorCriticPolicy, buffer: EpisodicRolloutBuffer, chunk_size: int, value_targets: ValueTargets
) -> th.Tensor:
    """:math:`V(s_t)` for every step of the buffer's batch, without gradient, ``chunk_size`` steps at a time."""
    # Written into one tensor, so that no per-chunk output stays allocated between the chunks' larger temporaries
    values, start = th.empty(buffer.batch_steps, device=policy.device), 0
    with th.no_grad():
        for chunk in buffer.get(chunk_size):
            values[start : start + len(chunk.actions)] = policy.predict_values(chunk.observations).flatten()  # type: ignore[arg-type]
            start += len(chunk.actions)
    return value_targets.values(values)


def record_value_fit(
    logger: Logger, values: th.Tensor, returns: th.Tensor, value_loss: float, value_targets: ValueTargets
) -> None:
    """
    Log the value loss, the share of the returns that the baseline (predicted before the fit) explained, and the
    statistics of the targets.
    """
    logger.record("train/value_loss", value_loss)
    logger.record("train/explained_variance", explained_variance(values.cpu().numpy(), returns.cpu().numpy()))
    if value_targets.normalize:
        logger.record("train/value_target_mean", value_targets.mean)
        logger.record("train/value_target_std", value_targets.std)


def add_terminal_values(
    policy: ActorCriticPolicy, rewards: np.ndarray, dones: np.ndarray, infos: list, gamma: float, value_targets: ValueTargets
) -> None:
    """Add :math:`\\gamma V(s_T)` to the reward of each step that ended an episode by a time limit (in place)."""
    for idx, done in enumerate(dones):
        if done and infos[idx].get("terminal_observation") is not None and infos[idx].get("TimeLimit.truncated", False):
            terminal_obs = policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
            with th.no_grad():
                value = value_targets.values(policy.predict_values(terminal_obs))  # type: ignore[arg-type]
                rewards[idx] += gamma * value[0].item()


class SeparateCritic:
    """
    Fits the value head on the Monte Carlo returns :math:`G_t` of a batch, after the policy's step: ``n_updates``
    passes over the batch in shuffled minibatches of ``batch_size`` steps (the whole batch if None), each an MSE step
    of its own optimizer (the policy's optimizer class and kwargs) with its own gradient clipping, its gradient
    accumulated over chunks of at most ``chunk_size`` steps.

    :param policy: the policy whose value head is fitted
    :param n_updates: passes over the batch per update
    :param batch_size: steps per minibatch, or None for one full-batch step per pass
    :param lr_schedule: learning rate of the critic's optimizer, a function of the progress remaining
    :param max_grad_norm: clipping of the critic's gradient norm
    :param chunk_size: steps per forward and backward pass
    """

    def __init__(
        self,
        policy: ActorCriticPolicy,
        n_updates: int,
        batch_size: int | None,
        lr_schedule: Schedule,
        max_grad_norm: float,
        chunk_size: int,
    ):
        self.policy, self.n_updates, self.batch_size = policy, n_updates, batch_size
        self.lr_schedule, self.max_grad_norm, self.chunk_size = lr_schedule, max_grad_norm, chunk_size
        self.parameters = [param for name, param in policy.named_parameters() if name.startswith(CRITIC_MODULES)]
        self.optimizer = policy.optimizer_class(self.parameters, lr=lr_schedule(1), **policy.optimizer_kwargs)  # type: ignore[call-arg]

    def fit(
        self, buffer: EpisodicRolloutBuffer, progress_remaining: float, value_targets: ValueTargets
    ) -> tuple[float, float]:
        """
        :param buffer: holds the batch
        :param value_targets: what the head regresses (the returns, or their standardized values)
        :param progress_remaining: from 1 to 0, for the learning rate schedule
        :return: the mean minibatch loss, and the learning rate used
        """
        learning_rate = self.lr_schedule(progress_remaining)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        losses = []
        # A batch that fits in one pass is read once, and its minibatches are taken from it (the same steps)
        whole = next(buffer.get()) if 0 < buffer.batch_steps <= self.chunk_size else None
        for _ in range(self.n_updates):
            for chunks, size in self._minibatches(buffer, whole):
                self.optimizer.zero_grad()
                loss = th.zeros((), device=self.policy.device)
                for observations, returns in chunks:
                    values = self.policy.predict_values(observations).flatten()  # type: ignore[arg-type]
                    chunk_loss = ((value_targets.targets(returns) - values) ** 2).sum() / size
                    chunk_loss.backward()
                    loss = loss + chunk_loss.detach()
                th.nn.utils.clip_grad_norm_(self.parameters, self.max_grad_norm)
                self.optimizer.step()
                losses.append(loss.item())
        return float(np.mean(losses)), learning_rate

    def _minibatches(
        self, buffer: EpisodicRolloutBuffer, whole: EpisodicRolloutBufferSamples | None
    ) -> Iterator[tuple[Iterator[tuple[th.Tensor | TensorDict, th.Tensor]], int]]:
        """
        One pass over the batch: each minibatch (the whole batch if ``batch_size`` is None, else a shuffled share) as
        chunks of at most ``chunk_size`` steps, read one at a time (taken from ``whole``, the batch read at once, if
        given), each as its observations and returns; and its number of steps.
        """
        n_batch = buffer.batch_steps
        if self.batch_size is None:
            chunks = [whole] if whole is not None else buffer.get(self.chunk_size)
            yield ((chunk.observations, chunk.returns) for chunk in chunks), n_batch
            return
        order = np.random.permutation(n_batch)
        for start in range(0, n_batch, self.batch_size):
            indices = np.sort(order[start : start + self.batch_size])
            if whole is not None:
                yield iter([_take(whole, th.as_tensor(indices, device=whole.returns.device))]), len(indices)
                continue
            pieces = (buffer._get_samples(indices[i : i + self.chunk_size]) for i in range(0, len(indices), self.chunk_size))
            yield ((chunk.observations, chunk.returns) for chunk in pieces), len(indices)


def _take(samples: EpisodicRolloutBufferSamples, index: th.Tensor) -> tuple[th.Tensor | TensorDict, th.Tensor]:
    """The observations and returns of the steps ``index`` of ``samples``."""
    observations = samples.observations
    if isinstance(observations, dict):
        return {key: value[index] for key, value in observations.items()}, samples.returns[index]
    return observations[index], samples.returns[index]
