"""
The value head of REINFORCE, :math:`V(s_t)`, and everything about it, in one class (:class:`Critic`): what it
regresses (:class:`ValueTargets`), its predictions for the baseline and for bootstrapping time limits, its fit, and
its logs.

It is fitted in one of two ways (``n_critic_updates``). Jointly, as in A2C: its loss is a term of the policy's loss,
weighted by ``vf_coef``, and the two share one clipped gradient; since the value loss grows with the scale of the
returns, it can then take nearly all of the clipped norm and leave the policy almost nothing. Apart, after the
policy's step: passes of minibatches with an optimizer and a gradient clipping of its own, so that it cannot starve
the policy, whatever the reward scale (the names follow sb3-contrib's TRPO).
"""

from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.common.utils import explained_variance

from sb3_reinforce.common.buffers import EpisodeBatch, EpisodicRolloutBuffer

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


class Critic:
    """
    The value head of an actor-critic policy, for REINFORCE's baseline and for bootstrapping time limits.

    The algorithm calls it in three places: :meth:`predict` at the end of a rollout (the baseline, before the fit),
    :meth:`joint_loss` for each chunk of the policy's step when it is fitted jointly, and :meth:`fit` after the
    policy's step; :meth:`terminal_value` serves ``bootstrap_truncated`` during the rollout.

    :param policy: the policy whose value head this is
    :param targets: what the head regresses; saved with the model (as ``REINFORCE.value_targets``)
    :param n_updates: None: fitted jointly with the policy (:meth:`joint_loss`); else passes over the batch of the
        fit apart, after the policy's step (:meth:`fit`)
    :param batch_size: steps per minibatch of the fit apart (shuffled), or None for one full-batch step per pass
    :param lr_schedule: learning rate of the fit apart, a function of the progress remaining
    :param vf_coef: weight of the value loss in the joint fit
    :param max_grad_norm: clipping of the value head's gradient norm in the fit apart (the policy's
        ``max_grad_norm``, applied to the critic's gradient alone)
    :param chunk_size: steps per forward and backward pass
    """

    def __init__(
        self,
        policy: ActorCriticPolicy,
        targets: ValueTargets,
        n_updates: int | None,
        batch_size: int | None,
        lr_schedule: Schedule,
        vf_coef: float,
        max_grad_norm: float,
        chunk_size: int,
    ):
        self.policy, self.targets, self.n_updates, self.batch_size = policy, targets, n_updates, batch_size
        self.lr_schedule, self.vf_coef, self.max_grad_norm, self.chunk_size = lr_schedule, vf_coef, max_grad_norm, chunk_size
        self.parameters = [param for name, param in policy.named_parameters() if name.startswith(CRITIC_MODULES)]
        # The fit apart has an optimizer of its own (the policy's class and kwargs), saved with the model
        self.optimizer: th.optim.Optimizer | None = None
        if n_updates is not None:
            self.optimizer = policy.optimizer_class(self.parameters, lr=lr_schedule(1), **policy.optimizer_kwargs)  # type: ignore[call-arg]
        self._losses: list[float] = []
        self._joint_loss = th.zeros((), device=policy.device)
        self._learning_rate: float | None = None

    @property
    def joint(self) -> bool:
        """Whether the value head is fitted jointly with the policy, in its loss."""
        return self.n_updates is None

    def predict(self, buffer: EpisodicRolloutBuffer) -> th.Tensor:
        """
        :math:`V(s_t)` for every step of the buffer's batch, by the head as it is, before its fit on the batch (a
        baseline fitted on the batch's own returns would be biased), ``chunk_size`` steps at a time. Then the batch's
        returns join the statistics of the targets, which its fit uses.

        :param buffer: holds the batch
        :return: the values, in the returns' scale
        """
        with th.no_grad():
            outputs = [self.policy.predict_values(chunk.observations).flatten() for chunk in buffer.get(self.chunk_size)]  # type: ignore[arg-type]
        values = self.targets.values(th.cat(outputs))
        self.targets.update(buffer.batch.returns)
        return values

    def terminal_value(self, observation: Any) -> float:
        """:math:`V(s_T)` of the last observation of an episode cut by a time limit, in the returns' scale."""
        with th.no_grad():
            value = self.targets.values(self.policy.predict_values(self.policy.obs_to_tensor(observation)[0]))  # type: ignore[arg-type]
        return value[0].item()

    def joint_loss(self, outputs: th.Tensor, returns: th.Tensor, n_batch: int) -> th.Tensor:
        """
        The joint fit's term of the policy's loss for one chunk: ``vf_coef`` times its share of the mean squared error
        between the head's outputs and the targets of the returns :math:`G_t`.

        :param outputs: the value head's outputs for the chunk's steps, with gradient
        :param returns: :math:`G_t` of the chunk's steps
        :param n_batch: steps in the batch
        """
        loss = ((self.targets.targets(returns) - outputs.flatten()) ** 2).sum() / n_batch
        self._joint_loss = self._joint_loss + loss.detach()
        return self.vf_coef * loss

    def fit(self, buffer: EpisodicRolloutBuffer, progress_remaining: float) -> None:
        """
        After the policy's step: with the fit apart, ``n_updates`` passes over the batch in minibatches, each one MSE
        step of the critic's optimizer with its own gradient clipping, its gradient accumulated over chunks of at most
        ``chunk_size`` steps (the joint fit happened in the policy's step).

        :param buffer: holds the batch
        :param progress_remaining: from 1 to 0, for the learning rate schedule
        """
        if self.optimizer is None or self.n_updates is None:
            return
        self._learning_rate = self.lr_schedule(progress_remaining)
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate
        n_batch, device = buffer.batch_steps, self.policy.device
        # What the head regresses: the targets of the returns, computed once, and the observations alone (from memory
        # when the batch fits one chunk), read per chunk
        targets = self.targets.targets(buffer.batch.returns)
        step = self.batch_size or n_batch
        losses = []
        for _ in range(self.n_updates):
            order = np.random.permutation(n_batch) if self.batch_size is not None else np.arange(n_batch)
            for start in range(0, n_batch, step):
                minibatch = np.sort(order[start : start + step])
                self.optimizer.zero_grad()
                loss = th.zeros((), device=device)
                for part in (minibatch[i : i + self.chunk_size] for i in range(0, len(minibatch), self.chunk_size)):
                    index = th.as_tensor(part, device=device)
                    outputs = self.policy.predict_values(buffer.read_observations(part, index)).flatten()  # type: ignore[arg-type]
                    chunk_loss = ((targets[index] - outputs) ** 2).sum() / len(minibatch)
                    chunk_loss.backward()
                    loss = loss + chunk_loss.detach()
                th.nn.utils.clip_grad_norm_(self.parameters, self.max_grad_norm)
                self.optimizer.step()
                losses.append(loss)
        self._losses = th.stack(losses).tolist()

    def record(self, logger: Logger, batch: EpisodeBatch) -> None:
        """
        Log the value loss (of the joint fit, or the mean minibatch loss of the fit apart, with its learning rate), the
        share of the returns that the baseline explained, and the statistics of the targets.

        :param logger: the algorithm's logger
        :param batch: the batch, with the values predicted before the fit
        """
        assert batch.values is not None, "predict() the batch's values before record()"
        if self.joint:
            value_loss = self._joint_loss.item()
        else:
            value_loss = float(np.mean(self._losses))
            logger.record("train/vf_learning_rate", self._learning_rate)
        self._joint_loss = th.zeros((), device=self.policy.device)
        logger.record("train/value_loss", value_loss)
        logger.record("train/explained_variance", explained_variance(batch.values.cpu().numpy(), batch.returns.cpu().numpy()))
        if self.targets.normalize:
            logger.record("train/value_target_mean", self.targets.mean)
            logger.record("train/value_target_std", self.targets.std)
