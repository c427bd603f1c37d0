import io
import pathlib
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, BasePolicy, MultiInputActorCriticPolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_reinforce.common.buffers import (
    EPISODIC_BUFFERS,
    EpisodicDictRolloutBuffer,
    EpisodicRolloutBuffer,
    EpisodicRolloutBufferSamples,
)
from sb3_reinforce.common.saved_models import SAVE_FORMAT, check_saved_model

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")

BASELINES = (None, "value", "mean", "leave_one_out")


class REINFORCE(OnPolicyAlgorithm):
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
    :param baseline: What is subtracted from the return: ``None`` (pure REINFORCE; the value head is neither
        trained nor used), ``"value"`` (the policy's value head :math:`V(s_t)`, trained by regression on the
        Monte Carlo returns :math:`G_t`, weighted by ``vf_coef``), ``"mean"`` (the mean return of the batch;
        no critic) or ``"leave_one_out"`` (for each episode, the mean return of the *other* episodes of the batch;
        no critic; unbiased)
    :param discount_weighting: If True, step t's term is multiplied by :math:`\\gamma^t`, t counted from the
        start of its episode (Sutton & Barto's REINFORCE): with ``reward_to_go=True`` the estimate is then unbiased
        for the discounted objective :math:`J_\\gamma`; if False (the usual practice), it is biased for gamma < 1.
        Only allowed with ``reward_to_go=True``: the whole return is already unbiased without it.
    :param normalize_advantage: Whether to normalize :math:`\\Psi_t` over the batch (zero mean, unit std)
    :param ent_coef: Entropy coefficient for the loss calculation, >= 0
    :param vf_coef: Value function coefficient for the loss calculation, >= 0 (used when the value head is
        trained: with ``baseline="value"`` or ``bootstrap_truncated=True``)
    :param max_grad_norm: The maximum value for the gradient clipping, > 0 (``float("inf")`` disables clipping).
        It clips the gradient of the whole loss, policy and value head together: when the returns are large, the
        value loss can take nearly all of it (README, *Troubleshooting*); lower ``vf_coef`` or raise this then.
    :param bootstrap_truncated: If True, add :math:`\\gamma V(s_T)` to the last reward of an episode cut by a
        time limit (``TimeLimit.truncated``). The value head is then trained on the Monte Carlo returns whatever
        the baseline (with ``baseline="value"`` it is also the baseline). Default False: episodes truncated by a
        time limit end there, with no bootstrapping.
    :param stale_correction: Steps carried over from an earlier rollout were collected under an older policy.
        If True, their score term is weighted by the truncated importance ratio
        :math:`\\min(1, \\pi_\\theta(a_t|s_t) / \\pi_{old}(a_t|s_t))`. Steps of the current rollout have a ratio
        of exactly 1 and are unaffected.
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE)
        instead of action noise exploration (default: False)
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE
        Default: -1 (only sample at the beginning of the rollout)
    :param rollout_buffer_class: Rollout buffer class to use: a subclass of ``EpisodicRolloutBuffer``
        (or ``EpisodicDictRolloutBuffer`` for Dict observations). If ``None``, it is selected automatically.
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
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ActorCriticPolicy,
        "CnnPolicy": ActorCriticCnnPolicy,
        "MultiInputPolicy": MultiInputActorCriticPolicy,
    }
    rollout_buffer: EpisodicRolloutBuffer | EpisodicDictRolloutBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[ActorCriticPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        n_steps: int = 512,
        n_episodes: int | None = None,
        gamma: float = 0.99,
        reward_to_go: bool = True,
        baseline: str | None = "value",
        discount_weighting: bool = False,
        normalize_advantage: bool = True,
        ent_coef: float = 0.0,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        bootstrap_truncated: bool = False,
        stale_correction: bool = True,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        rollout_buffer_class: type[RolloutBuffer] | None = None,
        rollout_buffer_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        for name, flag in (
            ("reward_to_go", reward_to_go),
            ("discount_weighting", discount_weighting),
            ("normalize_advantage", normalize_advantage),
            ("bootstrap_truncated", bootstrap_truncated),
            ("stale_correction", stale_correction),
            ("use_sde", use_sde),
        ):
            if not isinstance(flag, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {flag!r}.")
        _check_args(
            learning_rate=learning_rate,
            n_steps=n_steps,
            n_episodes=n_episodes,
            gamma=gamma,
            baseline=baseline,
            ent_coef=ent_coef,
            vf_coef=vf_coef,
            max_grad_norm=max_grad_norm,
            reward_to_go=reward_to_go,
            discount_weighting=discount_weighting,
            sde_sample_freq=sde_sample_freq,
            stats_window_size=stats_window_size,
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
        )
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
            rollout_buffer_class=rollout_buffer_class,
            rollout_buffer_kwargs=rollout_buffer_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            device=device,
            seed=seed,
            _init_setup_model=False,
            supported_action_spaces=(
                spaces.Box,
                spaces.Discrete,
                spaces.MultiDiscrete,
                spaces.MultiBinary,
            ),
        )
        self.n_episodes = n_episodes
        self.reward_to_go = reward_to_go
        self.baseline = baseline
        self.discount_weighting = discount_weighting
        self.normalize_advantage = normalize_advantage
        self.bootstrap_truncated = bootstrap_truncated
        self.stale_correction = stale_correction
        # Saved with the model: lets load() tell a REINFORCE file from another algorithm's, and a newer format
        self.sb3_reinforce_save_format = SAVE_FORMAT

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        if self.rollout_buffer_class is None:
            if isinstance(self.observation_space, spaces.Dict):
                self.rollout_buffer_class = EpisodicDictRolloutBuffer
            else:
                self.rollout_buffer_class = EpisodicRolloutBuffer
        is_dict = isinstance(self.observation_space, spaces.Dict)
        if is_dict != issubclass(self.rollout_buffer_class, EpisodicDictRolloutBuffer):
            raise ValueError(
                f"rollout_buffer_class={self.rollout_buffer_class.__name__} does not match the observation space "
                f"{self.observation_space}: use EpisodicDictRolloutBuffer for Dict observations and "
                "EpisodicRolloutBuffer otherwise (or leave it None)."
            )
        super()._setup_model()

    @property
    def _uses_value(self) -> bool:
        """Whether the value head is trained: as the baseline, or to bootstrap episodes cut by a time limit."""
        return self.baseline == "value" or self.bootstrap_truncated

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """
        Collect steps with the current policy until ``n_rollout_steps`` steps per env were taken
        (or, with ``n_episodes``, until that many episodes ended), then compute the Monte Carlo returns
        of the episodes that ended. Unlike SB3's version, nothing is bootstrapped (unless
        ``bootstrap_truncated``), and the transition of each step is stored *before* the callback runs,
        so that stopping from a callback loses nothing.

        :param env: The training environment
        :param callback: Callback that will be called at each step
            (and at the beginning and end of the rollout)
        :param rollout_buffer: Buffer to fill with rollouts (an ``EpisodicRolloutBuffer``)
        :param n_rollout_steps: Number of experiences to collect per environment
        :return: True if the rollout completed, False if a callback stopped it.
        """
        assert self._last_obs is not None, "No previous observation was provided"
        assert isinstance(rollout_buffer, EPISODIC_BUFFERS)
        self.policy.set_training_mode(False)

        n_steps = 0
        n_ended = 0
        rollout_buffer.start_rollout(self._last_episode_starts)  # type: ignore[arg-type]
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        callback.on_rollout_start()

        is_box = isinstance(self.action_space, spaces.Box)
        while (n_ended < self.n_episodes) if self.n_episodes is not None else (n_steps < n_rollout_steps):
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                # Sample a new noise matrix
                self.policy.reset_noise(env.num_envs)

            with th.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
                # The actor alone: no baseline needs V(s_t) from the rollout (the value baseline is evaluated in
                # train(), by the current value head), so the rollout skips the value head
                distribution = self.policy.get_distribution(obs_tensor)
                actions_tensor = distribution.get_actions()
                log_probs = distribution.log_prob(actions_tensor)
            actions = actions_tensor.cpu().numpy()

            # Rescale and perform action
            clipped_actions = actions
            if is_box:
                if self.policy.squash_output:
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)  # type: ignore[attr-defined]

            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            self._check_finite(rewards, new_obs)

            if self.bootstrap_truncated:
                for idx, done in enumerate(dones):
                    if (
                        done
                        and infos[idx].get("terminal_observation") is not None
                        and infos[idx].get("TimeLimit.truncated", False)
                    ):
                        terminal_obs = self.policy.obs_to_tensor(infos[idx]["terminal_observation"])[0]
                        with th.no_grad():
                            terminal_value = self.policy.predict_values(terminal_obs)[0]  # type: ignore[arg-type]
                        rewards[idx] += self.gamma * terminal_value.item()

            rollout_buffer.add(
                self._last_obs,
                actions,
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                None,
                log_probs,
                done=dones,
            )
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones
            self._update_info_buffer(infos, dones)
            n_steps += 1
            n_ended += int(dones.sum())

            # Give access to local variables
            callback.update_locals(locals())
            if not callback.on_step():
                return False

        rollout_buffer.finalize()

        callback.update_locals(locals())
        callback.on_rollout_end()

        return True

    def _check_finite(self, rewards: np.ndarray, new_obs: Any) -> None:
        """Raise a clear error if an env returned a NaN or infinite reward or observation."""
        if not np.isfinite(rewards).all():
            env_idx = int(np.flatnonzero(~np.isfinite(rewards))[0])
            raise ValueError(
                f"Env {env_idx} returned a non-finite reward ({rewards[env_idx]}). It would poison the Monte Carlo "
                "returns and then the weights. Fix the env, or wrap it in "
                "stable_baselines3.common.vec_env.VecCheckNan to find the step that produces it."
            )
        observations = new_obs.values() if isinstance(new_obs, dict) else (new_obs,)
        for obs in observations:
            if np.issubdtype(obs.dtype, np.floating) and not np.isfinite(obs).all():
                bad = ~np.isfinite(obs.reshape(len(obs), -1)).all(axis=1)
                env_idx = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"Env {env_idx} returned a non-finite observation. Fix the env, or wrap it in "
                    "stable_baselines3.common.vec_env.VecCheckNan to find the step that produces it."
                )

    def _advantages(self, batch: EpisodicRolloutBufferSamples, values: th.Tensor | None) -> th.Tensor:
        """Psi_t: the return (reward-to-go or whole-episode), minus the baseline, times gamma^t if asked."""
        returns = batch.returns if self.reward_to_go else batch.episode_returns
        if self.baseline == "value":
            assert values is not None
            advantages = returns - values.detach()
        elif self.baseline == "mean":
            if self.reward_to_go:
                advantages = returns - returns.mean()
            else:
                # mean over episodes (each counted once, whatever its length)
                first = batch.episode_steps == 0
                advantages = returns - batch.episode_returns[first].mean()
        elif self.baseline == "leave_one_out":
            advantages = returns - leave_one_out_baseline(
                returns, batch.episode_ids, batch.episode_steps if self.reward_to_go else None
            )
        else:
            advantages = returns
        if self.discount_weighting:
            # (only with reward_to_go, see _check_args)
            advantages = advantages * (self.gamma ** batch.episode_steps.to(advantages.dtype))
        return advantages

    @property
    def policy_loss_divisor(self) -> int:
        """
        N in the policy loss :math:`-\\frac{1}{N} \\sum_{\\tau} \\sum_t \\log \\pi(a_t|s_t) \\Psi_t`: ``n_episodes``
        if it is set (the loss is then per episode), else ``n_steps * n_envs``, the number of steps a rollout
        collects (the loss is then per step).

        It is a constant on purpose. A batch's own count of steps (or episodes) depends on which episodes ended in
        it: dividing by it would shrink the terms of the long episodes that inflate it, and bias the expected
        update away from the policy gradient (towards short episodes; ``tests/test_exact_gradient.py``).
        """
        if self.n_episodes is not None:
            return self.n_episodes
        return self.n_steps * self.n_envs

    def train(self) -> None:
        """
        Update the policy with the score-function loss over the steps of all the episodes that ended
        (one gradient step over the whole batch).
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)

        buffer = self.rollout_buffer
        self.logger.record("train/n_episodes", buffer.n_episodes)
        self.logger.record("train/n_transitions", buffer.n_transitions)
        self.logger.record("train/carried_over", buffer.n_pending)
        self.logger.record("train/dropped_transitions", buffer.n_dropped)

        for batch in buffer.get(batch_size=None):
            actions = batch.actions
            if isinstance(self.action_space, spaces.Discrete):
                # Convert discrete action from float to long
                actions = actions.long().flatten()

            values: th.Tensor | None
            if self._uses_value:
                values, log_prob, entropy = self.policy.evaluate_actions(batch.observations, actions)  # type: ignore[arg-type]
                values = values.flatten()
            else:
                values = None
                distribution = self.policy.get_distribution(batch.observations)  # type: ignore[arg-type]
                log_prob = distribution.log_prob(actions)
                entropy = distribution.entropy()

            advantages = self._advantages(batch, values)
            advantages_raw = advantages
            if self.normalize_advantage and len(advantages) > 1:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

            # Score-function (REINFORCE) loss
            score_weights = advantages
            stale_fraction = batch.stale.float().mean().item()
            if self.stale_correction and stale_fraction > 0:
                ratio = th.exp(log_prob.detach() - batch.old_log_prob).clamp(max=1.0)
                score_weights = advantages * th.where(batch.stale, ratio, th.ones_like(ratio))
            # A sum over the batch's steps divided by a constant, not by the batch's own size: see policy_loss_divisor
            policy_loss = -(score_weights * log_prob).sum() / self.policy_loss_divisor

            # Entropy loss favor exploration
            if entropy is None:
                # Approximate entropy when no analytical form
                entropy_loss = -th.mean(-log_prob)
            else:
                entropy_loss = -th.mean(entropy)

            loss = policy_loss + self.ent_coef * entropy_loss
            if values is not None:
                # Regress the value head on the Monte Carlo reward-to-go
                value_loss = F.mse_loss(batch.returns, values)
                loss = loss + self.vf_coef * value_loss

            # Optimization step
            self.policy.optimizer.zero_grad()
            loss.backward()
            # Clip grad norm (and read the norm before clipping)
            grad_norm = th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()

            self._n_updates += 1
            returns = batch.returns if self.reward_to_go else batch.episode_returns
            first = batch.episode_steps == 0
            self.logger.record("train/policy_loss", policy_loss.item())
            self.logger.record("train/entropy_loss", entropy_loss.item())
            self.logger.record("train/grad_norm", grad_norm.item())
            self.logger.record("train/stale_fraction", stale_fraction)
            self.logger.record("train/episode_return_mean", batch.episode_returns[first].mean().item())
            self.logger.record("train/return_std", _std(returns))
            self.logger.record("train/advantage_std", _std(advantages_raw))
            if values is not None:
                self.logger.record("train/value_loss", value_loss.item())
                self.logger.record(
                    "train/explained_variance",
                    explained_variance(values.detach().cpu().numpy(), batch.returns.cpu().numpy()),
                )

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfREINFORCE],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfREINFORCE:
        """
        Load a REINFORCE model from a zip file, as SB3's ``load``, after checking that the file is a readable zip
        saved by REINFORCE in a format this version understands (each failure raises a ``ValueError`` that says why).

        Security: SB3's zip format stores some objects with cloudpickle, so loading a file from an untrusted source
        can execute code. Load only your own files, or pass ``custom_objects`` to replace the pickled fields
        (or use ``get_parameters``/``set_parameters`` with plain tensors).

        :param path: path to the file (or a file-like object)
        :param env: the new environment to run the loaded model on
        :param device: Device on which the code should run
        :param custom_objects: objects to use instead of the pickled ones, by name
        :param print_system_info: whether to print the system info of the saved model and of this system
        :param force_reset: force a ``reset()`` of the env before training
        :param kwargs: extra arguments to change the model when loading
        :return: the loaded model
        """
        check_saved_model(path, cls.__name__)
        return super().load(
            path,
            env=env,
            device=device,
            custom_objects=custom_objects,
            print_system_info=print_system_info,
            force_reset=force_reset,
            **kwargs,
        )

    def learn(
        self: SelfREINFORCE,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 1,
        tb_log_name: str = "REINFORCE",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfREINFORCE:
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


def leave_one_out_baseline(returns: th.Tensor, episode_ids: th.Tensor, episode_steps: th.Tensor | None) -> th.Tensor:
    """
    For each step of episode i, the mean return of the *other* episodes of the batch.

    - Whole-episode returns (``episode_steps=None``): :math:`b_i = \\frac{1}{M-1} \\sum_{j \\ne i} R(\\tau_j)`.
    - Reward-to-go: :math:`b_i(t) = ` the mean of :math:`G_t` over the other episodes still running at step t.

    Where no other episode qualifies (a batch of one episode, or no other episode as long as t),
    the baseline is 0: the step keeps its plain return, which is still unbiased.

    :param returns: the return of each step (``G_t`` or ``R(tau)``)
    :param episode_ids: episode index of each step, in ``[0, n_episodes)``
    :param episode_steps: step index t of each step inside its episode, or None for whole-episode returns
    :return: the baseline of each step
    """
    if episode_steps is None:
        # One value per episode: group by episode
        n_episodes = int(episode_ids.max().item()) + 1
        episode_return = th.zeros(n_episodes, dtype=returns.dtype, device=returns.device)
        episode_return.scatter_(0, episode_ids, returns)
        own = returns
        total = episode_return.sum()
        count = th.full_like(returns, n_episodes)
    else:
        # Group by step index t: every episode has at most one step with a given t
        horizon = int(episode_steps.max().item()) + 1
        total_t = th.zeros(horizon, dtype=returns.dtype, device=returns.device).index_add_(0, episode_steps, returns)
        count_t = th.zeros(horizon, dtype=returns.dtype, device=returns.device).index_add_(
            0, episode_steps, th.ones_like(returns)
        )
        own = returns
        total = total_t[episode_steps]
        count = count_t[episode_steps]
    others = count - 1
    return th.where(others > 0, (total - own) / others.clamp(min=1), th.zeros_like(returns))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_args(
    learning_rate: float | Schedule,
    n_steps: int,
    n_episodes: int | None,
    gamma: float,
    baseline: str | None,
    ent_coef: float,
    vf_coef: float,
    max_grad_norm: float,
    reward_to_go: bool,
    discount_weighting: bool,
    sde_sample_freq: int,
    stats_window_size: int,
    rollout_buffer_class: type[RolloutBuffer] | None,
    rollout_buffer_kwargs: dict[str, Any] | None,
) -> None:
    """Raise a ValueError that names the argument and its valid range for every invalid constructor argument."""
    if not callable(learning_rate) and not (_is_number(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a float > 0 or a schedule (callable), got {learning_rate!r}.")
    if not isinstance(n_steps, (int, np.integer)) or isinstance(n_steps, bool) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1 (steps per env per update), got {n_steps!r}.")
    if n_episodes is not None and (
        not isinstance(n_episodes, (int, np.integer)) or isinstance(n_episodes, bool) or n_episodes < 1
    ):
        raise ValueError(f"n_episodes must be None or an integer >= 1 (episodes per update), got {n_episodes!r}.")
    if not _is_number(gamma) or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}.")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}.")
    for name, coef in (("ent_coef", ent_coef), ("vf_coef", vf_coef)):
        if not _is_number(coef) or not np.isfinite(coef) or coef < 0:
            raise ValueError(f"{name} must be a finite float >= 0, got {coef!r}.")
    if not _is_number(max_grad_norm) or np.isnan(max_grad_norm) or max_grad_norm <= 0:
        raise ValueError(f"max_grad_norm must be > 0 (use float('inf') to disable clipping), got {max_grad_norm!r}.")
    if discount_weighting and not reward_to_go:
        raise ValueError(
            "discount_weighting=True weights step t's reward-to-go G_t by gamma^t (Sutton & Barto); it needs "
            "reward_to_go=True. The whole return R(tau) already discounts every reward from the episode's start, so "
            "reward_to_go=False is unbiased for the discounted objective without the weighting (and biased with it). "
            "Set discount_weighting=False, or reward_to_go=True."
        )
    if not isinstance(sde_sample_freq, (int, np.integer)) or isinstance(sde_sample_freq, bool) or sde_sample_freq == 0:
        raise ValueError(f"sde_sample_freq must be -1 (once per rollout) or an integer >= 1, got {sde_sample_freq!r}.")
    if not isinstance(stats_window_size, (int, np.integer)) or stats_window_size < 1:
        raise ValueError(f"stats_window_size must be an integer >= 1, got {stats_window_size!r}.")
    if rollout_buffer_class is not None and not (
        isinstance(rollout_buffer_class, type) and issubclass(rollout_buffer_class, EPISODIC_BUFFERS)
    ):
        raise ValueError(
            f"rollout_buffer_class must be a subclass of EpisodicRolloutBuffer or EpisodicDictRolloutBuffer "
            f"(REINFORCE needs complete episodes), got {rollout_buffer_class!r}. Leave it None to pick one automatically."
        )
    reserved = {"buffer_size", "observation_space", "action_space", "device", "gamma", "gae_lambda", "n_envs"}
    clash = sorted(reserved.intersection(rollout_buffer_kwargs or {}))
    if clash:
        raise ValueError(
            f"rollout_buffer_kwargs may not set {clash}: REINFORCE passes them itself "
            "(gae_lambda is always 1: Monte Carlo returns; set gamma and n_steps on REINFORCE)."
        )
