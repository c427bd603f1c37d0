from typing import Any, ClassVar, TypeVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, BasePolicy, MultiInputActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import FloatSchedule

from sb3_reinforce.common.batch import EpisodeBatch, EpisodicRolloutBufferSamples
from sb3_reinforce.common.buffers import EpisodicRolloutBuffer, auto_chunk_size
from sb3_reinforce.common.returns import advantages
from sb3_reinforce.common.saved_models import SAVE_FORMAT
from sb3_reinforce.reinforce.checks import (
    check_action_space,
    check_arguments,
    reject_unknown_arguments,
    uses_value_head,
)
from sb3_reinforce.reinforce.critic import Critic, ValueTargets
from sb3_reinforce.reinforce.rollout import CollectsEpisodes
from sb3_reinforce.reinforce.saving import SavesCritic
from sb3_reinforce.reinforce.step_bound import approx_kl, bounded_step

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")


class REINFORCE(CollectsEpisodes, SavesCritic):
    """
    REINFORCE: Monte Carlo policy gradient (Williams, 1992), with optional baselines.

    The update follows the score-function estimate of the policy gradient,
    :math:`\\nabla J(\\theta) = E[\\sum_t \\nabla \\log \\pi_\\theta(a_t|s_t) \\Psi_t]`, with
    :math:`\\Psi_t` the Monte Carlo return of *complete* episodes (reward-to-go :math:`G_t` or the whole
    return :math:`R(\\tau)`), optionally minus a baseline. Episodes cut by the end of a rollout are neither
    bootstrapped nor dropped: their steps are carried over and used in the update after they end.

    Paper: https://doi.org/10.1007/BF00992696 (Williams, 1992);
    Sutton & Barto, Reinforcement Learning: An Introduction, 2nd ed., section 13.3-13.4;
    leave-one-out baseline: https://arxiv.org/abs/2402.14740 (Ahmadian et al., 2024).

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: The learning rate, it can be a function of the current progress remaining (from 1 to 0)
    :param n_steps: The number of steps to run for each environment per update. The update uses the steps of
        every episode that ended during the rollout, including steps carried over from earlier rollouts.
        With ``n_episodes`` set, it is only the initial size of the buffer.
    :param n_episodes: If set, a rollout runs until at least this many episodes (over all envs) have ended,
        instead of ``n_steps`` steps per env.
    :param gamma: Discount factor, in [0, 1]
    :param reward_to_go: If True, step t uses the reward-to-go :math:`G_t = \\sum_{k \\ge t} \\gamma^{k-t} r_k`;
        if False, every step of an episode uses the whole discounted return :math:`R(\\tau) = G_0`.
    :param baseline: What is subtracted from the return: ``None`` (the value head is neither trained nor used),
        ``"value"`` (the value head :math:`V(s_t)`, regressed on :math:`G_t`), ``"mean"`` (the batch's mean return)
        or ``"leave_one_out"`` (for each episode, the mean return of the *other* episodes of the batch)
    :param discount_weighting: If True, step t's term is multiplied by :math:`\\gamma^t`, t counted from the start
        of its episode (Sutton & Barto): unbiased for the discounted objective. Needs ``reward_to_go=True``.
    :param normalize_advantage: Whether to normalize :math:`\\Psi_t` over the batch (zero mean, unit std)
    :param ent_coef: Entropy coefficient for the loss calculation, >= 0
    :param vf_coef: Weight of the value loss when the value head is fitted jointly with the policy, >= 0
    :param max_grad_norm: The maximum value for the gradient clipping, > 0 (``float("inf")`` disables clipping).
        Fitted jointly, the policy and value head share one clipped gradient (docs/reinforce.md, *Troubleshooting*);
        fitted apart (``n_critic_updates``), the value head's gradient is clipped on its own at this norm
    :param max_step_kl: None, or the largest KL divergence :math:`KL(\\pi_{before} \\| \\pi_{after})` that one update
        may move the policy by, > 0, measured on its batch: a step that moves it further is halved until it does not
        (up to 10 times, else not taken). The step keeps its direction; only its length shrinks. Not PPO's
        ``target_kl``, which stops PPO's epochs early: REINFORCE takes one step per batch.
    :param bootstrap_truncated: If True, add :math:`\\gamma V(s_T)` to the last reward of an episode cut by a
        time limit (``TimeLimit.truncated``); the value head is then trained whatever the baseline.
    :param stale_correction: If True, the score term of a step collected under an older policy (carried over from
        an earlier rollout) is weighted by :math:`\\min(1, \\pi_\\theta(a_t|s_t) / \\pi_{old}(a_t|s_t))`.
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE) instead of action noise exploration
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE (-1: at the start of each rollout)
    :param n_critic_updates: None: the value head is fitted jointly with the policy (one loss, one clipped
        gradient, as in A2C). An integer: it is fitted apart after the policy's step, with this many passes over the
        batch, an optimizer and a gradient clipping of its own, at ``max_grad_norm`` (``vf_coef`` unused; see
        ``reinforce/critic.py``).
        ``"auto"``: 1 if the value head is used (``baseline="value"`` or ``bootstrap_truncated``), else None
    :param batch_size: With ``n_critic_updates``: steps per minibatch of the critic's fit (shuffled), or None for
        one full-batch step per pass. ``"auto"``: 64 if the critic is fitted apart, else None
    :param vf_learning_rate: With ``n_critic_updates``: the critic's learning rate (a float or a schedule); None
        uses ``learning_rate``. ``"auto"``: 2e-3 if the critic is fitted apart, else None
    :param normalize_value_targets: If True, the value head regresses the returns standardized by their running mean
        and std (saved with the model), and its outputs are mapped back to the returns' scale for the baseline.
        ``"auto"``: True if the value head is used, else False
    :param chunk_size: Steps per forward and backward pass: the update's gradient is accumulated over chunks, so
        memory is bounded by the chunk. ``None``: up to 8192 steps, and as many as fit 4 MiB of float32 observations.
    :param rollout_buffer_class: Rollout buffer class to use: ``EpisodicRolloutBuffer`` or a subclass of it.
        If ``None``, ``EpisodicRolloutBuffer``.
    :param rollout_buffer_kwargs: Keyword arguments to pass to the rollout buffer on creation,
        e.g. ``dict(max_episode_steps=100_000)``, the longest episode kept in memory.
    :param stats_window_size: Window size for the rollout logging, specifying the number of episodes to average
        the reported success rate, mean episode length, and mean reward over
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 for no output, 1 for info messages (such as device or wrappers used), 2 for
        debug messages
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run.
        Setting it to auto, the code will be run on the GPU if possible.
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    :param kwargs: none are accepted: A2C and PPO arguments such as ``gae_lambda`` raise a ``TypeError`` that says
        why REINFORCE has no such argument
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ActorCriticPolicy,
        "CnnPolicy": ActorCriticCnnPolicy,
        "MultiInputPolicy": MultiInputActorCriticPolicy,
    }
    rollout_buffer: EpisodicRolloutBuffer  # type: ignore[assignment]
    # What the value head regresses, with its running statistics: saved with the model, used by ``critic``
    value_targets: ValueTargets
    # The value head, where it is used (``baseline="value"`` or ``bootstrap_truncated``), else None
    critic: Critic | None

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-3,
        n_steps: int = 16,
        n_episodes: int | None = None,
        gamma: float = 0.99,
        reward_to_go: bool = True,
        baseline: str | None = "value",
        discount_weighting: bool = False,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        max_step_kl: float | None = None,
        bootstrap_truncated: bool = False,
        stale_correction: bool = True,
        n_critic_updates: int | str | None = "auto",
        batch_size: int | str | None = "auto",
        vf_learning_rate: float | Schedule | str | None = "auto",
        normalize_value_targets: bool | str = "auto",
        chunk_size: int | None = None,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[EpisodicRolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
        **kwargs: Any,
    ):
        reject_unknown_arguments(type(self).__name__, kwargs)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            gamma=gamma,
            gae_lambda=1.0,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            rollout_buffer_class=rollout_buffer_class or EpisodicRolloutBuffer,  # type: ignore[arg-type]
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
            supported_action_spaces=(spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary),
        )
        self.n_episodes = n_episodes
        self.reward_to_go = reward_to_go
        self.baseline = baseline
        self.discount_weighting = discount_weighting
        self.normalize_advantage = normalize_advantage
        self.bootstrap_truncated = bootstrap_truncated
        self.max_step_kl = max_step_kl
        self.stale_correction = stale_correction
        # "auto" until _setup_model resolves them
        self.n_critic_updates: int | str | None = n_critic_updates
        self.batch_size: int | str | None = batch_size
        self.vf_learning_rate: float | Schedule | str | None = vf_learning_rate
        self.normalize_value_targets: bool | str = normalize_value_targets
        self.chunk_size = chunk_size
        # Saved with the model: lets load() tell a REINFORCE file from another algorithm's, and a newer format
        self.sb3_reinforce_save_format = SAVE_FORMAT

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        # The arguments as set by the constructor, or by load(path, **kwargs), checked and resolved once, here
        critic_arguments = check_arguments(self)
        self.n_critic_updates, self.batch_size, self.vf_learning_rate, self.normalize_value_targets = critic_arguments
        check_action_space(self.action_space)
        super()._setup_model()
        # load() restores the saved one, with its statistics, unless the option was changed when loading
        if getattr(self, "value_targets", None) is None or self.value_targets.normalize != self.normalize_value_targets:
            self.value_targets = ValueTargets(self.normalize_value_targets)
        self.critic = None
        if uses_value_head(self.baseline, self.bootstrap_truncated):
            self.critic = Critic(
                self.policy,  # type: ignore[arg-type]
                self.value_targets,
                self.n_critic_updates,
                self.batch_size,
                self.lr_schedule if self.vf_learning_rate is None else FloatSchedule(self.vf_learning_rate),
                self.vf_coef,
                self.max_grad_norm,
                self.steps_per_pass,
            )

    @property
    def policy_loss_divisor(self) -> int:
        """
        N in the policy loss :math:`-\\frac{1}{N} \\sum_{\\tau} \\sum_t \\log \\pi(a_t|s_t) \\Psi_t`: ``n_episodes`` if set,
        else ``n_steps * n_envs``. A constant on purpose: the batch's own size grows with its long episodes, and
        dividing by it would bias the update towards short episodes (``tests/test_exact_gradient.py``).
        """
        if self.n_episodes is not None:
            return self.n_episodes
        return self.n_steps * self.n_envs

    @property
    def steps_per_pass(self) -> int:
        """Steps per forward and backward pass of the update: ``chunk_size``, or ``auto_chunk_size``."""
        return auto_chunk_size(self.observation_space) if self.chunk_size is None else self.chunk_size

    def _compute_advantages(self, batch: EpisodeBatch) -> None:
        """
        At the end of a rollout, set :math:`\\Psi_t` on the batch: the return (:math:`G_t` or :math:`R(\\tau)`), minus
        the baseline (with the value head's :math:`V(s_t)`, predicted before its fit on the batch), times
        :math:`\\gamma^t` with ``discount_weighting``.
        """
        if len(batch) == 0:
            return
        if self.critic is not None:
            batch.values = self.critic.predict(self.rollout_buffer)
        batch.advantages = advantages(
            batch,
            gamma=self.gamma,
            reward_to_go=self.reward_to_go,
            baseline=self.baseline,
            discount_weighting=self.discount_weighting,
        )

    def train(self) -> None:
        """
        One gradient step on the score-function loss :math:`-\\frac{1}{N} \\sum_t \\log \\pi(a_t|s_t) \\Psi_t` over the steps
        of every episode that ended, accumulated over chunks of ``steps_per_pass`` steps; then the value head's fit.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)

        buffer = self.rollout_buffer
        batch = buffer.batch
        self.logger.record("train/carried_over", buffer.n_pending)
        self.logger.record("train/dropped_transitions", buffer.dropped_steps)
        # An update whose rollout ended no episode changes nothing, and logs nothing of a batch: the log shows the last
        # batch since the previous table
        if len(batch) > 0:
            self.logger.record("train/n_episodes", batch.n_episodes)
            self.logger.record("train/n_transitions", len(batch))
            self._policy_step(batch)
            if self.critic is not None:
                self.critic.fit(buffer, self._current_progress_remaining)
                self.critic.record(self.logger, batch)
            self.logger.record("train/stale_fraction", batch.stale.float().mean().item())
            self.logger.record("train/episode_return_mean", batch.episode_returns[batch.episode_steps == 0].mean().item())
            self.logger.record("train/return_std", _std(batch.returns if self.reward_to_go else batch.episode_returns))
            assert batch.advantages is not None
            self.logger.record("train/advantage_std", _std(batch.advantages))
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

    def _policy_step(self, batch: EpisodeBatch) -> None:
        """
        The policy's step: the gradient of :math:`-\\frac{1}{N} \\sum_t w_t \\log \\pi(a_t|s_t)`, with :math:`w_t = \\Psi_t`
        (normalized over the batch if asked), accumulated over chunks (:meth:`_chunk_loss`), then clipped.
        """
        assert batch.advantages is not None, "the advantages are set at the end of the rollout"
        n_batch, psi = len(batch), batch.advantages
        normalize = self.normalize_advantage and n_batch > 1
        center, scale = (psi.mean(), psi.std() + 1e-8) if normalize else (0.0, 1.0)
        policy_loss = entropy_loss = th.zeros((), device=self.device)
        log_prob_before = []
        self.policy.optimizer.zero_grad()
        for chunk in self.rollout_buffer.get(self.steps_per_pass):
            assert chunk.advantages is not None
            weights = (chunk.advantages - center) / scale if normalize else chunk.advantages
            chunk_policy_loss, chunk_entropy_loss, loss, log_prob = self._chunk_loss(chunk, weights, n_batch)
            loss.backward()
            policy_loss = policy_loss + chunk_policy_loss.detach()
            entropy_loss = entropy_loss + chunk_entropy_loss.detach()
            log_prob_before.append(log_prob.detach())

        # Clip grad norm (and read the norm before clipping)
        grad_norm = th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        if self.max_step_kl is None:
            self.policy.optimizer.step()
        else:
            before = th.cat(log_prob_before)
            kl, fraction = bounded_step(self.policy.optimizer, lambda: self._step_kl(before), self.max_step_kl)
            self.logger.record("train/approx_kl", kl)
            self.logger.record("train/step_fraction", fraction)
        self._n_updates += 1
        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())
        self.logger.record("train/grad_norm", grad_norm.item())

    def _step_kl(self, log_prob_before: th.Tensor) -> float:
        """:math:`KL(\\pi_{before} \\| \\pi)` on the batch's actions (``approx_kl``), with the policy as it is now."""
        with th.no_grad():
            log_prob = [
                self.policy.get_distribution(chunk.observations).log_prob(self._actions(chunk))  # type: ignore[arg-type]
                for chunk in self.rollout_buffer.get(self.steps_per_pass)
            ]
        return approx_kl(log_prob_before, th.cat(log_prob)).item()

    def _actions(self, chunk: EpisodicRolloutBufferSamples) -> th.Tensor:
        """The chunk's actions, as the policy's distribution takes them."""
        return chunk.actions.long().flatten() if isinstance(self.action_space, spaces.Discrete) else chunk.actions

    def _chunk_loss(
        self, chunk: EpisodicRolloutBufferSamples, weights: th.Tensor, n_batch: int
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
        """
        One chunk's share of the loss: the policy loss with the weights :math:`w_t` (times the truncated ratio
        :math:`\\min(1, \\pi / \\pi_{old})` for stale steps), ``ent_coef`` times the entropy loss, and the value loss when the
        value head is fitted jointly.

        :return: the policy loss, the entropy loss and the total loss of the chunk, and :math:`\\log \\pi(a_t|s_t)`
        """
        actions = self._actions(chunk)
        joint_value = self.critic is not None and self.critic.joint
        if joint_value:
            values, log_prob, entropy = self.policy.evaluate_actions(chunk.observations, actions)  # type: ignore[arg-type]
        else:
            distribution = self.policy.get_distribution(chunk.observations)  # type: ignore[arg-type]
            log_prob, entropy = distribution.log_prob(actions), distribution.entropy()
        if self.stale_correction and chunk.stale.any():
            # Steps collected under an older policy: truncated importance ratio min(1, pi / pi_old)
            ratio = th.exp(log_prob.detach() - chunk.old_log_prob).clamp(max=1.0)
            weights = weights * th.where(chunk.stale, ratio, th.ones_like(ratio))
        # A sum over the batch's steps divided by a constant, not by the batch's own size: see policy_loss_divisor
        policy_loss = -(weights * log_prob).sum() / self.policy_loss_divisor
        # Entropy loss favors exploration (approximated by -log_prob when there is no analytical form)
        entropy_loss = (log_prob if entropy is None else -entropy).sum() / n_batch
        loss = policy_loss + self.ent_coef * entropy_loss
        if joint_value:
            assert self.critic is not None
            loss = loss + self.critic.joint_loss(values, chunk.returns, n_batch)
        return policy_loss, entropy_loss, loss, log_prob

    def learn(
        self: SelfREINFORCE,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 32,
        tb_log_name: str = "REINFORCE",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfREINFORCE:
        """
        SB3's ``learn``; ``log_interval`` (updates between two log tables, with ``verbose=1``) defaults to 32, a table
        every 512 steps per env with the default ``n_steps=16``, about as often as A2C's defaults (100 x 5).
        """
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )


def _std(values: th.Tensor) -> float:
    return values.std().item() if len(values) > 1 else 0.0
