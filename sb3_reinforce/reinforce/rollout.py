"""
REINFORCE's rollouts: SB3's collection loop, filling the episodic buffer, with the actor alone at each step; the
batch's advantages are set when the rollout ends.
"""

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv

from sb3_reinforce.common.batch import EpisodeBatch
from sb3_reinforce.common.buffers import EpisodicRolloutBuffer
from sb3_reinforce.reinforce.checks import check_finite
from sb3_reinforce.reinforce.critic import Critic


class CollectsEpisodes(OnPolicyAlgorithm):
    """
    SB3's on-policy algorithm, whose rollouts fill an ``EpisodicRolloutBuffer`` with complete episodes, run for
    ``n_steps`` steps per env or until ``n_episodes`` episodes ended, and end with :meth:`_compute_advantages`.
    """

    n_episodes: int | None
    bootstrap_truncated: bool
    critic: Critic | None

    def _compute_advantages(self, batch: EpisodeBatch) -> None:
        """Set the batch's advantages, at the end of a rollout."""
        raise NotImplementedError

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
                # The actor alone: the baseline is predicted for the whole batch at the end of the rollout
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
                self._bootstrap_time_limits(rewards, dones, infos)

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
        self._compute_advantages(rollout_buffer.batch)

        callback.update_locals(locals())
        callback.on_rollout_end()

        return True

    def _bootstrap_time_limits(self, rewards: np.ndarray, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Add :math:`\\gamma V(s_T)` to the reward of each step that ended an episode by a time limit (in place)."""
        assert self.critic is not None
        for idx, done in enumerate(dones):
            if done and infos[idx].get("terminal_observation") is not None and infos[idx].get("TimeLimit.truncated", False):
                rewards[idx] += self.gamma * self.critic.terminal_value(infos[idx]["terminal_observation"])
