"""
The Monte Carlo returns and baselines of REINFORCE, as pure functions.

The buffer calls :func:`reward_to_go` and :func:`episode_layout` on the rows of the episodes that ended; the
algorithm calls :func:`advantages` on the batch at the end of each rollout. Each is checked against hand-computed
numbers in ``tests/test_returns.py``.
"""

import numpy as np
import torch as th

from sb3_reinforce.common.batch import EpisodeBatch


def reward_to_go(rewards: np.ndarray, dones: np.ndarray, gamma: float) -> np.ndarray:
    """
    The discounted reward-to-go :math:`G_t = r_t + \\gamma G_{t+1}`, reset after every step that ends an episode,
    over a timeline of shape ``(time, n_envs)``, computed backward in float64.

    Rows after the last ``done`` of a column belong to an episode that has not ended: their values are not returns
    (they treat the end of the timeline as the end of the episode) and must not be used.

    :param rewards: reward of each step, shape ``(time, n_envs)``
    :param dones: whether the step ended its episode (terminated or truncated), shape ``(time, n_envs)``
    :param gamma: discount factor
    :return: :math:`G_t` for each step, float64, shape ``(time, n_envs)``
    """
    returns = np.zeros(rewards.shape, dtype=np.float64)
    running = np.zeros(rewards.shape[1:], dtype=np.float64)
    not_done = ~dones
    for step in range(len(rewards) - 1, -1, -1):
        running = rewards[step] + gamma * running * not_done[step]
        returns[step] = running
    return returns


def episode_layout(starts: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, ...]:
    """
    Locate every valid step of a ``(time, n_envs)`` timeline in its episode.

    :param starts: whether the step is the first of an episode, shape ``(time, n_envs)``; every valid step must
        have the start of its episode at or above it in its column
    :param valid: the steps to locate, shape ``(time, n_envs)``
    :return: ``(time_idx, env_idx, start_rows, episode_ids)`` for the valid steps, in row-major order: the row and
        column of each step, the row where its episode started (:math:`t` is ``time_idx - start_rows``), and the
        index of its episode in ``[0, n_episodes)``, numbered by start row, then column
    """
    rows = np.arange(len(starts))[:, None]
    start_rows = np.maximum.accumulate(np.where(starts, rows, 0), axis=0)
    time_idx, env_idx = np.nonzero(valid)
    episode_start = start_rows[time_idx, env_idx]
    _, episode_ids = np.unique(episode_start * starts.shape[1] + env_idx, return_inverse=True)
    return time_idx, env_idx, episode_start, episode_ids.reshape(-1).astype(np.int64)


def leave_one_out_baseline(returns: th.Tensor, episode_ids: th.Tensor, episode_steps: th.Tensor | None) -> th.Tensor:
    """
    For each step of episode i, the mean return of the *other* episodes of the batch (RLOO, Ahmadian et al. 2024).

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
        total = episode_return.sum()
        count = th.full_like(returns, n_episodes)
    else:
        # Group by step index t: every episode has at most one step with a given t
        horizon = int(episode_steps.max().item()) + 1
        total_t = th.zeros(horizon, dtype=returns.dtype, device=returns.device).index_add_(0, episode_steps, returns)
        count_t = th.zeros(horizon, dtype=returns.dtype, device=returns.device).index_add_(
            0, episode_steps, th.ones_like(returns)
        )
        total = total_t[episode_steps]
        count = count_t[episode_steps]
    others = count - 1
    return th.where(others > 0, (total - returns) / others.clamp(min=1), th.zeros_like(returns))


def advantages(
    batch: EpisodeBatch,
    *,
    gamma: float,
    reward_to_go: bool = True,
    baseline: str | None = None,
    discount_weighting: bool = False,
) -> th.Tensor:
    """
    :math:`\\Psi_t`: the return (:math:`G_t`, or :math:`R(\\tau)` for every step of the episode), minus a baseline,
    times :math:`\\gamma^t` if asked. One entry per step of the batch.

    :param batch: the batch's returns (``returns``, ``episode_returns``), the place of each step in its episode
        (``episode_steps``, ``episode_ids``) and, for ``baseline="value"``, ``values``: :math:`V(s_t)`, which must not
        depend on this batch's actions (predict it *before* fitting the value head on the batch), or the gradient is
        biased
    :param gamma: discount factor
    :param reward_to_go: use :math:`G_t` (True) or :math:`R(\\tau)` (False)
    :param baseline: ``None``, ``"value"`` (subtract ``batch.values``), ``"mean"`` (the batch mean: of :math:`G_t` over
        the steps, or of :math:`R(\\tau)` over the episodes) or ``"leave_one_out"``
    :param discount_weighting: multiply step t's term by :math:`\\gamma^t` (Sutton & Barto)
    :return: :math:`\\Psi_t` for each step
    """
    returns, episode_returns, episode_steps = batch.returns, batch.episode_returns, batch.episode_steps
    psi = returns if reward_to_go else episode_returns
    if baseline == "value":
        if batch.values is None:
            raise ValueError("baseline='value' needs the values V(s_t) of the batch (batch.values).")
        psi = psi - batch.values
    elif baseline == "mean":
        # mean over steps (reward-to-go), or over episodes, each counted once whatever its length
        psi = psi - (returns.mean() if reward_to_go else episode_returns[episode_steps == 0].mean())
    elif baseline == "leave_one_out":
        psi = psi - leave_one_out_baseline(psi, batch.episode_ids, episode_steps if reward_to_go else None)
    elif baseline is not None:
        raise ValueError(f"Unknown baseline {baseline!r}.")
    if discount_weighting:
        psi = psi * (gamma ** episode_steps.to(psi.dtype))
    return psi
