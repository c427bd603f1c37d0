import io
import pathlib
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import ActorCriticCnnPolicy, ActorCriticPolicy, BasePolicy, MultiInputActorCriticPolicy
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule, TensorDict
from stable_baselines3.common.utils import FloatSchedule, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.common.buffers import EpisodicRolloutBuffer, auto_chunk_size
from sb3_reinforce.common.returns import advantages
from sb3_reinforce.common.saved_models import SAVE_FORMAT, check_saved_model
from sb3_reinforce.reinforce.checks import (
    check_action_space,
    check_arguments,
    check_critic_arguments,
    check_finite,
    reject_unknown_arguments,
)
from sb3_reinforce.reinforce.critic import SeparateCritic, ValueTargets, add_terminal_values, predict_values, record_value_fit

SelfREINFORCE = TypeVar("SelfREINFORCE", bound="REINFORCE")


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
    :param baseline: What is subtracted from the return: ``None`` (the value head is neither trained nor used),
        ``"value"`` (the value head :math:`V(s_t)`, regressed on :math:`G_t`), ``"mean"`` (the batch's mean return)
        or ``"leave_one_out"`` (for each episode, the mean return of the *other* episodes of the batch)
    :param discount_weighting: If True, step t's term is multiplied by :math:`\\gamma^t`, t counted from the start
        of its episode (Sutton & Barto): unbiased for the discounted objective. Needs ``reward_to_go=True``.
    :param normalize_advantage: Whether to normalize :math:`\\Psi_t` over the batch (zero mean, unit std)
    :param ent_coef: Entropy coefficient for the loss calculation, >= 0
    :param vf_coef: Weight of the value loss when the value head is fitted jointly with the policy, >= 0
    :param max_grad_norm: The maximum value for the gradient clipping, > 0 (``float("inf")`` disables clipping).
        Fitted jointly, the policy and value head share one clipped gradient (docs/reinforce.md, *Troubleshooting*)
    :param bootstrap_truncated: If True, add :math:`\\gamma V(s_T)` to the last reward of an episode cut by a
        time limit (``TimeLimit.truncated``); the value head is then trained whatever the baseline.
    :param stale_correction: If True, the score term of a step collected under an older policy (carried over from
        an earlier rollout) is weighted by :math:`\\min(1, \\pi_\\theta(a_t|s_t) / \\pi_{old}(a_t|s_t))`.
    :param use_sde: Whether to use generalized State Dependent Exploration (gSDE) instead of action noise exploration
    :param sde_sample_freq: Sample a new noise matrix every n steps when using gSDE (-1: at the start of each rollout)
    :param n_critic_updates: None: the value head is fitted jointly with the policy (one loss, one clipped
        gradient, as in A2C). An integer: it is fitted apart after the policy's step, with this many passes over the
        batch, an optimizer and a gradient clipping of its own (``vf_coef`` unused; see ``reinforce/critic.py``).
        ``"auto"``: 5 if the value head is used (``baseline="value"`` or ``bootstrap_truncated``), else None
    :param batch_size: With ``n_critic_updates``: steps per minibatch of the critic's fit (shuffled), or None for
        one full-batch step per pass. ``"auto"``: 64 if the critic is fitted apart, else None
    :param vf_learning_rate: With ``n_critic_updates``: the critic's learning rate (a float or a schedule); None
        uses ``learning_rate``. ``"auto"``: 1e-3 if the critic is fitted apart, else None
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
    value_targets: ValueTargets

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
        arguments = check_arguments({k: v for k, v in locals().items() if k not in ("self", "policy", "env", "kwargs")})
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
        self.stale_correction = stale_correction
        self.n_critic_updates: int | None = arguments["n_critic_updates"]
        self.batch_size: int | None = arguments["batch_size"]
        self.vf_learning_rate: float | Schedule | None = arguments["vf_learning_rate"]
        self.normalize_value_targets: bool = arguments["normalize_value_targets"]
        self.chunk_size = chunk_size
        # Saved with the model: lets load() tell a REINFORCE file from another algorithm's, and a newer format
        self.sb3_reinforce_save_format = SAVE_FORMAT

        if _init_setup_model:
            self._setup_model()

    def _setup_model(self) -> None:
        check_action_space(self.action_space)
        # load(path, **kwargs) sets its kwargs on the model without the constructor: resolve and check them here
        self.__dict__.update(check_critic_arguments(self.__dict__))
        super()._setup_model()
        # load() restores the saved one, with its statistics, unless the option was changed when loading
        if getattr(self, "value_targets", None) is None or self.value_targets.normalize != self.normalize_value_targets:
            self.value_targets = ValueTargets(self.normalize_value_targets)
        self.critic: SeparateCritic | None = None
        if self.n_critic_updates is not None:
            lr_schedule = self.lr_schedule if self.vf_learning_rate is None else FloatSchedule(self.vf_learning_rate)
            self.critic = SeparateCritic(
                self.policy, self.n_critic_updates, self.batch_size, lr_schedule, self.max_grad_norm, self.steps_per_pass
            )

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "critic"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, tensors = super()._get_torch_save_params()
        return [*state_dicts, "critic.optimizer"] if self.critic is not None else state_dicts, tensors

    def set_parameters(
        self,
        load_path_or_dict: str | pathlib.Path | io.BufferedIOBase | TensorDict,
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        """
        SB3's ``set_parameters`` (and so ``load``'s), where the critic's optimizer follows ``n_critic_updates`` as set
        now, e.g. by ``load(path, n_critic_updates=...)``: a critic fitted apart that the parameters hold no state for
        keeps its fresh optimizer, and the saved state of a critic no longer fitted apart is dropped, with a warning.

        :param load_path_or_dict: a saved zip (path or file-like), or the parameters by object name (``get_parameters``)
        :param exact_match: whether the parameters must cover every module and optimizer
        :param device: where to load them
        """
        params: dict[str, Any] = (
            dict(load_path_or_dict)
            if isinstance(load_path_or_dict, dict)
            else load_from_zip_file(load_path_or_dict, device=device, load_data=False)[1]
        )
        if self.critic is not None and "critic.optimizer" not in params:
            params["critic.optimizer"] = self.critic.optimizer.state_dict()
        elif self.critic is None and params.pop("critic.optimizer", None) is not None:
            message = "the saved state of the critic's optimizer was dropped: n_critic_updates=None fits the value head"
            warnings.warn(message + " jointly with the policy, with the policy's optimizer", stacklevel=2)
        super().set_parameters(params, exact_match=exact_match, device=device)

    @property
    def _uses_value(self) -> bool:
        """Whether the value head is trained: as the baseline, or to bootstrap episodes cut by a time limit."""
        return self.baseline == "value" or self.bootstrap_truncated

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

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """
        Collect ``n_rollout_steps`` steps per env (or, with ``n_episodes``, until that many episodes ended), then
        compute the Monte Carlo returns of the episodes that ended. Unlike SB3's version, nothing is bootstrapped
        (unless ``bootstrap_truncated``), and each step is stored *before* the callback runs, so that stopping from
        a callback loses nothing.

        :param env: The training environment
        :param callback: Callback that will be called at each step (and at the beginning and end of the rollout)
        :param rollout_buffer: Buffer to fill with rollouts (an ``EpisodicRolloutBuffer``)
        :param n_rollout_steps: Number of experiences to collect per environment
        :return: True if the rollout completed, False if a callback stopped it.
        """
        assert self._last_obs is not None, "No previous observation was provided"
        assert isinstance(rollout_buffer, EpisodicRolloutBuffer)
        self.policy.set_training_mode(False)

        n_steps = 0
        n_ended = 0
        rollout_buffer.start_rollout(self._last_episode_starts)  # type: ignore[arg-type]
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)

        callback.on_rollout_start()

        while (n_ended < self.n_episodes) if self.n_episodes is not None else (n_steps < n_rollout_steps):
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                # Sample a new noise matrix
                self.policy.reset_noise(env.num_envs)

            with th.no_grad():
                obs_tensor = obs_as_tensor(self._last_obs, self.device)  # type: ignore[arg-type]
                # The actor alone: the value baseline is evaluated in train(), so the rollout skips the value head
                distribution = self.policy.get_distribution(obs_tensor)
                actions_tensor = distribution.get_actions()
                log_probs = distribution.log_prob(actions_tensor)
            # The action space's shape, as ActorCriticPolicy.forward gives it
            actions = actions_tensor.cpu().numpy().reshape((-1, *self.action_space.shape))  # type: ignore[misc]

            # Rescale and perform action
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)

            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            check_finite(rewards, new_obs)

            if self.bootstrap_truncated:
                add_terminal_values(self.policy, rewards, dones, infos, self.gamma, self.value_targets)

            rollout_buffer.add(self._last_obs, actions, rewards, self._last_episode_starts, log_probs, done=dones)  # type: ignore[arg-type]
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

    def train(self) -> None:
        """
        One gradient step on the score-function loss :math:`-\\frac{1}{N} \\sum_t \\log \\pi(a_t|s_t) \\Psi_t` over the steps
        of every episode that ended, accumulated over chunks of ``steps_per_pass`` steps.
        """
        # Switch to train mode (this affects batch norm / dropout)
        self.policy.set_training_mode(True)
        # Update optimizer learning rate
        self._update_learning_rate(self.policy.optimizer)

        buffer = self.rollout_buffer
        n_batch = buffer.batch_steps
        self.logger.record("train/n_episodes", buffer.batch_episodes)
        self.logger.record("train/n_transitions", n_batch)
        self.logger.record("train/carried_over", buffer.n_pending)
        self.logger.record("train/dropped_transitions", buffer.dropped_steps)
        if n_batch > 0:
            self._update(buffer)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())

    def _update(self, buffer: EpisodicRolloutBuffer) -> None:
        batch, n_batch = buffer.batch, buffer.batch_steps
        # V(s_t) by the value head *before* this batch's update: a baseline fitted on its own returns would be biased
        values = predict_values(self.policy, buffer, self.steps_per_pass, self.value_targets) if self._uses_value else None
        # Psi_t: G_t or R(tau), minus the baseline, times gamma^t if asked
        psi = advantages(
            batch["returns"], batch["episode_returns"], batch["episode_steps"], batch["episode_ids"],
            self.gamma, self.reward_to_go, self.baseline, values, self.discount_weighting,
        )  # fmt: skip
        psi_raw = psi
        if self.normalize_advantage and len(psi) > 1:
            psi = (psi - psi.mean()) / (psi.std() + 1e-8)
        if values is not None:  # only now, after the baseline: the fit's targets may use this batch's statistics
            self.value_targets.update(batch["returns"])

        # The value head is fitted in the policy's step (weighted by vf_coef), or apart after it (n_critic_updates)
        joint_value = values is not None and self.critic is None
        policy_loss = entropy_loss = value_loss = th.zeros((), device=self.device)
        self.policy.optimizer.zero_grad()
        start = 0
        for chunk in buffer.get(self.steps_per_pass):
            actions = chunk.actions
            if isinstance(self.action_space, spaces.Discrete):
                # Convert discrete action from float to long
                actions = actions.long().flatten()
            if joint_value:
                chunk_values, log_prob, entropy = self.policy.evaluate_actions(chunk.observations, actions)  # type: ignore[arg-type]
            else:
                distribution = self.policy.get_distribution(chunk.observations)  # type: ignore[arg-type]
                log_prob, entropy = distribution.log_prob(actions), distribution.entropy()
            weights = psi[start : start + len(actions)]
            start += len(actions)
            if self.stale_correction and chunk.stale.any():
                # Steps collected under an older policy: truncated importance ratio min(1, pi / pi_old)
                ratio = th.exp(log_prob.detach() - chunk.old_log_prob).clamp(max=1.0)
                weights = weights * th.where(chunk.stale, ratio, th.ones_like(ratio))
            # A sum over the batch's steps divided by a constant, not by the batch's own size: see policy_loss_divisor
            chunk_policy_loss = -(weights * log_prob).sum() / self.policy_loss_divisor
            # Entropy loss favors exploration (approximated by -log_prob when there is no analytical form)
            chunk_entropy_loss = (log_prob if entropy is None else -entropy).sum() / n_batch
            loss = chunk_policy_loss + self.ent_coef * chunk_entropy_loss
            if joint_value:
                # Regress the value head on the Monte Carlo reward-to-go
                chunk_value_loss = ((self.value_targets.targets(chunk.returns) - chunk_values.flatten()) ** 2).sum() / n_batch
                loss = loss + self.vf_coef * chunk_value_loss
                value_loss = value_loss + chunk_value_loss.detach()
            loss.backward()
            policy_loss = policy_loss + chunk_policy_loss.detach()
            entropy_loss = entropy_loss + chunk_entropy_loss.detach()

        # Clip grad norm (and read the norm before clipping)
        grad_norm = th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
        self.policy.optimizer.step()
        self._n_updates += 1
        if self.critic is not None:
            critic_loss, critic_lr = self.critic.fit(buffer, self._current_progress_remaining, self.value_targets)
            value_loss = th.tensor(critic_loss)
            self.logger.record("train/vf_learning_rate", critic_lr)

        self.logger.record("train/policy_loss", policy_loss.item())
        self.logger.record("train/entropy_loss", entropy_loss.item())
        self.logger.record("train/grad_norm", grad_norm.item())
        self.logger.record("train/stale_fraction", batch["stale"].float().mean().item())
        self.logger.record("train/episode_return_mean", batch["episode_returns"][batch["episode_steps"] == 0].mean().item())
        self.logger.record("train/return_std", _std(batch["returns"] if self.reward_to_go else batch["episode_returns"]))
        self.logger.record("train/advantage_std", _std(psi_raw))
        if values is not None:
            record_value_fit(self.logger, values, batch["returns"], value_loss.item(), self.value_targets)

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
        SB3's ``load``, after checking that the file is a zip saved by REINFORCE in a format this version reads.
        Security: SB3's zip format stores some objects with cloudpickle: load only files you trust (or pass
        ``custom_objects``, or use ``get_parameters``/``set_parameters``).

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
