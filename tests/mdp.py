"""
Small tabular MDPs for the exact-gradient tests, with the exact policy objective in closed form.

A :class:`TabularMDP` has ``n_states`` transient states and one absorbing terminal state (index ``n_states``
in the last axis of ``transitions`` and ``rewards``). The agent observes a one-hot vector of
``obs_of_state[s]``: several states may share an observation (e.g. the cells of a corridor), which keeps the
policy small; the policy is then memoryless in the observation, and the exact objective below is still exact.

With SB3's ``ActorCriticPolicy`` and ``net_arch=dict(pi=[], vf=[])``, the logits are ``W x + b`` with
``x`` the one-hot observation: :func:`exact_objective` builds :math:`\\pi(a|s)` from those very parameter
tensors, so that ``torch.autograd.grad`` gives the exact policy gradient with respect to them.
"""

from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvStepReturn


class TabularMDP:
    """
    An episodic tabular MDP with an absorbing terminal state.

    :param transitions: ``P[s, a, s']``, shape ``(n_states, n_actions, n_states + 1)``; ``s' = n_states`` is terminal
    :param rewards: ``R[s, a, s']``, same shape: the reward of the transition ``(s, a, s')``
    :param initial: ``mu0[s]``, shape ``(n_states,)``
    :param obs_of_state: the observation index of every state (default: one observation per state)
    """

    def __init__(
        self,
        transitions: np.ndarray,
        rewards: np.ndarray,
        initial: np.ndarray,
        obs_of_state: np.ndarray | None = None,
    ):
        n_states, n_actions, n_next = transitions.shape
        assert n_next == n_states + 1, "the last axis of transitions includes the terminal state"
        assert rewards.shape == transitions.shape and initial.shape == (n_states,)
        assert np.allclose(transitions.sum(-1), 1.0) and np.isclose(initial.sum(), 1.0)
        self.transitions = transitions.astype(np.float64)
        self.rewards = rewards.astype(np.float64)
        self.initial = initial.astype(np.float64)
        self.n_states = n_states
        self.n_actions = n_actions
        self.obs_of_state = np.arange(n_states) if obs_of_state is None else np.asarray(obs_of_state, dtype=np.int64)
        self.n_obs = int(self.obs_of_state.max()) + 1
        # For sampling: cumulative transition probabilities
        self._cumulative = np.cumsum(self.transitions, axis=-1)
        self._cumulative[..., -1] = 1.0
        self._initial_cumulative = np.cumsum(self.initial)
        self._initial_cumulative[-1] = 1.0

    @property
    def expected_rewards(self) -> np.ndarray:
        """:math:`\\bar r(s, a) = \\sum_{s'} P(s'|s,a) R(s,a,s')`, shape ``(n_states, n_actions)``."""
        return (self.transitions * self.rewards).sum(-1)

    def one_hot_observations(self) -> th.Tensor:
        """The observation of every state, shape ``(n_states, n_obs)`` (float64)."""
        return th.nn.functional.one_hot(th.as_tensor(self.obs_of_state), self.n_obs).double()

    def policy_probabilities(self, weight: th.Tensor, bias: th.Tensor) -> th.Tensor:
        """:math:`\\pi(a|s) = \\mathrm{softmax}(W x_s + b)`, shape ``(n_states, n_actions)``, differentiable."""
        logits = self.one_hot_observations() @ weight.double().T + bias.double()
        return th.softmax(logits, dim=-1)

    def exact_values(self, weight: th.Tensor, bias: th.Tensor, gamma: float) -> th.Tensor:
        """
        :math:`V_\\pi = (I - \\gamma P_\\pi)^{-1} r_\\pi` over the transient states (the terminal state is worth 0).

        :param weight: the policy's ``action_net.weight``, shape ``(n_actions, n_obs)``
        :param bias: the policy's ``action_net.bias``, shape ``(n_actions,)``
        :param gamma: discount factor (1 is fine: every policy with full support ends with probability 1 here)
        """
        pi = self.policy_probabilities(weight, bias)
        p_pi = self.transient_matrix(pi)
        r_pi = (pi * th.as_tensor(self.expected_rewards)).sum(-1)
        eye = th.eye(self.n_states, dtype=th.float64)
        return th.linalg.solve(eye - gamma * p_pi, r_pi)

    def transient_matrix(self, pi: th.Tensor) -> th.Tensor:
        """:math:`P_\\pi` restricted to the transient states, shape ``(n_states, n_states)``."""
        return th.einsum("sa,sat->st", pi, th.as_tensor(self.transitions[:, :, : self.n_states]))

    def visitation(self, weight: th.Tensor, bias: th.Tensor, gamma: float) -> th.Tensor:
        """:math:`d_\\gamma(s) = \\sum_t \\gamma^t P(s_t = s) = \\mu_0^\\top (I - \\gamma P_\\pi)^{-1}` (not normalized)."""
        p_pi = self.transient_matrix(self.policy_probabilities(weight, bias))
        eye = th.eye(self.n_states, dtype=th.float64)
        return th.linalg.solve((eye - gamma * p_pi).T, th.as_tensor(self.initial))

    def action_values(self, weight: th.Tensor, bias: th.Tensor, gamma: float) -> th.Tensor:
        """:math:`Q_\\gamma(s, a) = \\bar r(s, a) + \\gamma \\sum_{s'} P(s'|s, a) V_\\gamma(s')`."""
        values = self.exact_values(weight, bias, gamma)
        next_values = th.as_tensor(self.transitions[:, :, : self.n_states]) @ values
        return th.as_tensor(self.expected_rewards) + gamma * next_values

    def score_gradient(self, weight: th.Tensor, bias: th.Tensor, state_weights: th.Tensor, scores: th.Tensor) -> np.ndarray:
        """
        :math:`\\sum_s w(s) \\sum_a \\nabla \\pi(a|s) \\, q(s, a)` with ``w`` and ``q`` held fixed: the expectation
        of a score-function estimator that weighs state s by ``w(s)`` and action a by ``q(s, a)``
        (policy gradient theorem: :math:`w = d_\\gamma`, :math:`q = Q_\\gamma` gives :math:`\\nabla J_\\gamma`).
        """
        pi = self.policy_probabilities(weight, bias)
        surrogate = (state_weights.detach()[:, None] * pi * scores.detach()).sum()
        grad_w, grad_b = th.autograd.grad(surrogate, [weight, bias])
        return np.concatenate([grad_w.flatten().numpy(), grad_b.flatten().numpy()]).astype(np.float64)

    def exact_objective(self, weight: th.Tensor, bias: th.Tensor, gamma: float) -> th.Tensor:
        """:math:`J_\\gamma(\\theta) = \\mu_0^\\top (I - \\gamma P_\\pi)^{-1} r_\\pi` (a differentiable scalar)."""
        return th.as_tensor(self.initial) @ self.exact_values(weight, bias, gamma)

    def exact_gradient(self, weight: th.Tensor, bias: th.Tensor, gamma: float) -> np.ndarray:
        """:math:`\\nabla_{(W, b)} J_\\gamma`, flattened as ``[W.flatten(), b]`` (float64)."""
        objective = self.exact_objective(weight, bias, gamma)
        grad_w, grad_b = th.autograd.grad(objective, [weight, bias])
        return np.concatenate([grad_w.flatten().numpy(), grad_b.flatten().numpy()]).astype(np.float64)

    def sample_initial(self, rng: np.random.Generator) -> int:
        """Draw a start state from ``mu0``."""
        return int(np.searchsorted(self._initial_cumulative, rng.random(), side="right"))

    def sample_next(self, state: int, action: int, rng: np.random.Generator) -> int:
        """Draw the next state (``n_states`` is the terminal state) from ``P(.|state, action)``."""
        return int(np.searchsorted(self._cumulative[state, action], rng.random(), side="right"))


class TabularEnv(gym.Env):
    """
    A :class:`TabularMDP` as a gymnasium env: one-hot ``Box`` observations, ``Discrete`` actions;
    an episode terminates when it reaches the terminal state.
    """

    def __init__(self, mdp: TabularMDP):
        super().__init__()
        self.mdp = mdp
        self.observation_space = spaces.Box(low=0.0, high=1.0, shape=(mdp.n_obs,), dtype=np.float32)
        self.action_space = spaces.Discrete(mdp.n_actions)
        self._eye = np.eye(mdp.n_obs, dtype=np.float32)
        self.state = 0

    def _obs(self) -> np.ndarray:
        return self._eye[self.mdp.obs_of_state[self.state]].copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.state = self.mdp.sample_initial(self.np_random)
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = int(action)
        next_state = self.mdp.sample_next(self.state, action, self.np_random)
        reward = float(self.mdp.rewards[self.state, action, next_state])
        terminated = next_state == self.mdp.n_states
        if terminated:
            # The terminal observation is never acted on; show the last state's
            return self._obs(), reward, True, False, {}
        self.state = next_state
        return self._obs(), reward, False, False, {}


class TabularVecEnv(VecEnv):
    """
    ``num_envs`` copies of :class:`TabularEnv`, simulated together with numpy (the same dynamics, with
    SB3's auto-reset and ``terminal_observation``): sampling is then cheap enough to estimate gradients
    from hundreds of thousands of steps in a few seconds.

    :param mdp: the MDP
    :param num_envs: number of parallel copies
    """

    def __init__(self, mdp: TabularMDP, num_envs: int):
        self.mdp = mdp
        self.render_mode = None
        self._eye = np.eye(mdp.n_obs, dtype=np.float32)
        self._rng = np.random.default_rng()
        self.states = np.zeros(num_envs, dtype=np.int64)
        self._actions = np.zeros(num_envs, dtype=np.int64)
        observation_space = spaces.Box(low=0.0, high=1.0, shape=(mdp.n_obs,), dtype=np.float32)
        super().__init__(num_envs, observation_space, spaces.Discrete(mdp.n_actions))

    def _sample(self, cumulative: np.ndarray) -> np.ndarray:
        """One index per row of ``cumulative`` (rows of cumulative probabilities)."""
        draws = self._rng.random(len(cumulative))
        return np.minimum((cumulative < draws[:, None]).sum(-1), cumulative.shape[-1] - 1)

    def _observe(self, states: np.ndarray) -> np.ndarray:
        return self._eye[self.mdp.obs_of_state[states]]

    def reset(self) -> np.ndarray:
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        self._reset_seeds()
        self.states = self._sample(np.broadcast_to(self.mdp._initial_cumulative, (self.num_envs, self.mdp.n_states)))
        return self._observe(self.states)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        states, actions = self.states, self._actions
        next_states = self._sample(self.mdp._cumulative[states, actions])
        rewards = self.mdp.rewards[states, actions, next_states].astype(np.float32)
        dones = next_states == self.mdp.n_states
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        observations = self._observe(np.where(dones, states, next_states))
        for idx in np.flatnonzero(dones):
            infos[idx] = {"terminal_observation": observations[idx].copy(), "TimeLimit.truncated": False}
        if dones.any():
            starts = self._sample(np.broadcast_to(self.mdp._initial_cumulative, (int(dones.sum()), self.mdp.n_states)))
            next_states = next_states.copy()
            next_states[dones] = starts
            observations[dones] = self._observe(starts)
        self.states = next_states
        return observations, rewards, dones, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        raise NotImplementedError

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False] * len(self._get_indices(indices))


def random_mdp(
    n_states: int,
    n_actions: int,
    seed: int,
    end_probability: float = 0.2,
    reward_scale: float = 1.0,
    reward_offset: float = 0.0,
    terminal_bonus: float = 0.0,
    concentration: float = 0.5,
    delayed: bool = False,
    initial_state: int | None = None,
) -> TabularMDP:
    """
    A random MDP: ``P(.|s, a)`` is Dirichlet over the transient states, scaled to leave ``end_probability``
    (itself random around that value) to the terminal state; rewards ``R(s, a, s')`` are uniform in
    ``reward_offset + reward_scale * [-1, 1]``, plus ``terminal_bonus`` on transitions into the terminal state.

    :param n_states: number of transient states
    :param n_actions: number of actions
    :param seed: numpy seed
    :param end_probability: mean probability of ending the episode at each step
    :param reward_scale: half-width of the reward distribution
    :param reward_offset: centre of the reward distribution
    :param terminal_bonus: reward added when the episode ends
    :param concentration: Dirichlet concentration (small: nearly deterministic transitions)
    :param delayed: if True, the reward of a step, its bonus on ending (uniform in ``reward_scale * [-2, 2]``) and
        the probability of ending depend on the current state only, not on the action: the expected immediate reward
        tells nothing about the action, only the future does
    :param initial_state: if set, every episode starts there (else the start state is drawn from a random ``mu0``)
    """
    rng = np.random.default_rng(seed)
    moves = rng.dirichlet(np.full(n_states, concentration), size=(n_states, n_actions))
    ends = np.clip(end_probability * rng.uniform(0.3, 1.7, size=(n_states, n_actions)), 0.01, 0.95)
    rewards = reward_offset + reward_scale * rng.uniform(-1.0, 1.0, size=(n_states, n_actions, n_states + 1))
    if delayed:
        ends[:] = ends[:, :1]
        rewards[:] = rewards[:, :1, :1]
        rewards[:, :, -1] += reward_scale * rng.uniform(-2.0, 2.0, size=(n_states, 1))
    transitions = np.concatenate([moves * (1 - ends[..., None]), ends[..., None]], axis=-1)
    rewards[:, :, -1] += terminal_bonus
    initial = rng.dirichlet(np.ones(n_states))
    if initial_state is not None:
        initial = np.zeros(n_states)
        initial[initial_state] = 1.0
    return TabularMDP(transitions, rewards, initial)


def corridor_mdp(length: int, long_reward: float = 1.0, short_reward: float = 0.5) -> TabularMDP:
    """
    The first action chooses between a long episode and a short one.

    - State 0 (observation 0): action 0 enters a corridor, action 1 goes to the short state; no reward.
    - Corridor cells 1..length (all show observation 1): every action moves one cell on; the last cell ends
      the episode and pays ``long_reward``. A long episode has ``length + 1`` steps.
    - The short state (observation 2): every action ends the episode and pays ``short_reward`` (2 steps).

    :param length: number of corridor cells
    :param long_reward: reward at the end of the corridor
    :param short_reward: reward of the short episode
    """
    n_states = length + 2
    short = length + 1
    terminal = n_states
    transitions = np.zeros((n_states, 2, n_states + 1))
    rewards = np.zeros_like(transitions)
    transitions[0, 0, 1] = 1.0
    transitions[0, 1, short] = 1.0
    for cell in range(1, length + 1):
        nxt = cell + 1 if cell < length else terminal
        transitions[cell, :, nxt] = 1.0
        if nxt == terminal:
            rewards[cell, :, terminal] = long_reward
    transitions[short, :, terminal] = 1.0
    rewards[short, :, terminal] = short_reward
    initial = np.zeros(n_states)
    initial[0] = 1.0
    obs_of_state = np.array([0] + [1] * length + [2])
    return TabularMDP(transitions, rewards, initial, obs_of_state)
