"""
Estimator exactness: REINFORCE's update direction against the EXACT policy gradient of small tabular MDPs.

The policy is linear in a one-hot observation (``net_arch=dict(pi=[], vf=[])``: logits ``W x + b``), so that
:math:`J(\\theta) = \\mu_0^\\top (I - \\gamma P_\\pi)^{-1} r_\\pi` is known in closed form and ``torch.autograd``
gives :math:`\\nabla J` with respect to the policy's own ``action_net.weight`` and ``action_net.bias``
(see ``tests/mdp.py``). The policy is held fixed: ``optimizer.step`` is replaced by a recorder, so every update
of ``model.learn()`` yields one independent gradient estimate of the same :math:`\\nabla J`.

``train()`` minimizes :math:`-\\frac{1}{N} \\sum_{\\text{episodes}} \\sum_t \\Psi_t \\log \\pi(a_t|s_t)`, with the constant
``N = model.policy_loss_divisor``: its gradient times ``N`` is
:math:`-\\sum_{\\text{episodes}} \\sum_t \\Psi_t \\nabla \\log \\pi`, and the pooled
estimate over all updates, :math:`\\sum_{\\text{updates}} (\\ldots) / \\sum n_{\\text{episodes}}`, estimates
:math:`-\\nabla J`. Deliberately wrong estimators, recomputed from the very same batches, must fail the same checks.

Measured numbers are printed: ``pytest tests/test_exact_gradient.py -s`` (they are recorded in
``docs/exact_gradient.md``).
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from sb3_reinforce.common.buffers import EpisodicRolloutBufferSamples
from sb3_reinforce.common.returns import leave_one_out_baseline
from tests.mdp import TabularEnv, TabularMDP, TabularVecEnv, corridor_mdp, random_mdp

LINEAR_POLICY = dict(net_arch=dict(pi=[], vf=[]))
N_ENVS = 64

# A weight per step of a batch: Psi_t of some (possibly wrong) estimator, from the batch and gamma
Estimator = Callable[[EpisodicRolloutBufferSamples, float], th.Tensor]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _flat(weight: th.Tensor, bias: th.Tensor) -> np.ndarray:
    return np.concatenate([weight.detach().flatten().numpy(), bias.detach().flatten().numpy()]).astype(np.float64)


# --- estimators recomputed from a batch (the right ones as independent checks, and deliberately wrong ones) ---
def _per_step_rewards(batch: EpisodicRolloutBufferSamples, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """Recover r_t = G_t - gamma G_{t+1} (same episode) from the batch; also return the (episode, t) sort order."""
    ids = batch.episode_ids.numpy()
    steps = batch.episode_steps.numpy()
    returns = batch.returns.numpy().astype(np.float64)
    order = np.lexsort((steps, ids))
    sorted_returns = returns[order]
    same_episode_next = np.append(ids[order][1:] == ids[order][:-1], False)
    next_returns = np.where(same_episode_next, np.append(sorted_returns[1:], 0.0), 0.0)
    rewards = np.empty_like(returns)
    rewards[order] = sorted_returns - gamma * next_returns
    return rewards, order


def reward_to_go(batch: EpisodicRolloutBufferSamples, gamma: float) -> th.Tensor:
    """Right (baseline None, reward_to_go=True): Psi_t = G_t."""
    return batch.returns


def whole_return(batch: EpisodicRolloutBufferSamples, gamma: float) -> th.Tensor:
    """Right (baseline None, reward_to_go=False): Psi_t = R(tau)."""
    return batch.episode_returns


def reward_to_come(batch: EpisodicRolloutBufferSamples, gamma: float) -> th.Tensor:
    """WRONG: the cumulative sum in the wrong direction, Psi_t = sum_{k <= t} r_k (the reward already received)."""
    rewards, order = _per_step_rewards(batch, gamma)
    ids = batch.episode_ids.numpy()[order]
    cumulative = np.cumsum(rewards[order])
    first = np.flatnonzero(np.append(True, ids[1:] != ids[:-1]))
    before_episode = np.append(0.0, cumulative)[first]
    lengths = np.diff(np.append(first, len(ids)))
    come = np.empty_like(rewards)
    come[order] = cumulative - np.repeat(before_episode, lengths)
    return th.as_tensor(come, dtype=batch.returns.dtype)


def discounted_whole_return(batch: EpisodicRolloutBufferSamples, gamma: float) -> th.Tensor:
    """
    WRONG (what ``reward_to_go=False, discount_weighting=True`` would compute, now a ValueError): step t weighted by
    gamma^t times R(tau) (leave-one-out baseline): R(tau) already discounts from t=0, so G_t ends up weighted by
    gamma^(2t).
    """
    returns = batch.episode_returns
    advantages = returns - leave_one_out_baseline(returns, batch.episode_ids, None)
    return advantages * gamma ** batch.episode_steps.to(returns.dtype)


def fitted_on_the_batch(batch: EpisodicRolloutBufferSamples, gamma: float) -> th.Tensor:
    """
    WRONG: G_t minus a value baseline fitted on this very batch (the tabular fit to convergence: the mean of G_t over
    the batch's visits of s_t). It depends on the step's own return, hence on its action: biased.
    """
    states = batch.observations.argmax(dim=1)
    n_states = int(states.max()) + 1
    total = th.zeros(n_states, dtype=batch.returns.dtype).index_add_(0, states, batch.returns)
    count = th.zeros(n_states, dtype=batch.returns.dtype).index_add_(0, states, th.ones_like(batch.returns))
    return batch.returns - (total / count)[states]


def drop_cut_episodes(batch: EpisodicRolloutBufferSamples, gamma: float) -> th.Tensor:
    """WRONG: G_t, but only for the episodes that fit inside one rollout (those cut by a rollout edge are dropped)."""
    ids = batch.episode_ids.numpy()
    cut = np.zeros(int(ids.max()) + 1, dtype=bool)
    np.logical_or.at(cut, ids, batch.stale.numpy())
    return batch.returns * th.as_tensor(~cut[ids], dtype=batch.returns.dtype)


# --- recording ---
@dataclass
class GradientRun:
    """
    The gradient estimates of one ``learn()`` run with the policy held fixed.

    :param exact: :math:`\\nabla J` (flattened ``[W, b]``) at the policy's parameters
    :param objective: :math:`J` at the policy's parameters
    :param sums: per update, the recorded gradient times ``policy_loss_divisor``,
        :math:`-\\sum_{ep} \\sum_t \\Psi_t \\nabla\\log\\pi`
    :param divisor: the model's ``policy_loss_divisor`` (a constant)
    :param n_episodes: per update, the number of episodes in the batch
    :param n_transitions: per update, the number of transitions in the batch
    :param others: per update, :math:`-\\sum \\Psi_t \\nabla \\log \\pi` for each recomputed estimator, by name
    :param episode_returns: the return R(tau) of every episode used
    :param max_episode_step: the largest ``episode_steps`` seen in a batch
    :param stale_updates: number of updates whose batch held steps carried over from an earlier rollout
    :param value_error: with ``baseline="value"``, the largest error of the value head against the exact V
    """

    exact: np.ndarray
    objective: float
    sums: np.ndarray
    divisor: int
    n_episodes: np.ndarray
    n_transitions: np.ndarray
    others: dict[str, np.ndarray]
    episode_returns: np.ndarray
    max_episode_step: int
    stale_updates: int
    value_error: float = float("nan")

    @property
    def direction(self) -> np.ndarray:
        """The pooled estimate of :math:`-\\nabla J`: all episodes of all updates weigh the same."""
        return self.sums.sum(0) / self.n_episodes.sum()

    @property
    def mean_update(self) -> np.ndarray:
        """The mean of the raw recorded gradients (the gradients of the loss as train() computes it): SGD's expected step."""
        return (self.sums / self.divisor).mean(0)

    @property
    def per_update(self) -> np.ndarray:
        """Each update's estimate of :math:`-\\nabla J` (its gradient rescaled by policy_loss_divisor / n_episodes)."""
        return self.sums / self.n_episodes[:, None]

    @property
    def cosine(self) -> float:
        """Cosine between the mean update direction and the exact descent direction :math:`-\\nabla J`."""
        return cosine(self.direction, -self.exact)

    @property
    def relative_error(self) -> float:
        """:math:`\\|\\hat g + \\nabla J\\| / \\|\\nabla J\\|`: the pooled estimate must match -grad J in size too."""
        return float(np.linalg.norm(self.direction + self.exact) / np.linalg.norm(self.exact))

    def other_cosine(self, name: str) -> float:
        """The same cosine for a recomputed estimator."""
        return cosine(self.others[name].sum(0), -self.exact)

    @property
    def variance(self) -> float:
        """Trace of the covariance of the per-update estimates."""
        per_update = self.per_update
        return float(((per_update - per_update.mean(0)) ** 2).sum(1).mean())


class GradientRecorder(BaseCallback):
    """
    Replace ``policy.optimizer.step`` by a recorder of the (unclipped) ``action_net`` gradients, so that the policy
    never moves. With ``train_value``, the optimizer still steps the value head (the ``action_net`` gradients are
    removed first). At the end of each rollout, recompute the extra ``estimators`` from the same batch.

    :param estimators: extra estimators to recompute from every batch, by name
    :param skip_updates: number of first updates not to record (e.g. while the value head is being trained)
    :param train_value: let the optimizer step the value head
    """

    def __init__(self, estimators: dict[str, Estimator] | None = None, skip_updates: int = 0, train_value: bool = False):
        super().__init__()
        self.estimators = estimators or {}
        self.skip_updates = skip_updates
        self.train_value = train_value
        self.sums: list[np.ndarray] = []
        self.n_episodes: list[int] = []
        self.n_transitions: list[int] = []
        self.others: dict[str, list[np.ndarray]] = {}
        self.episode_returns: list[np.ndarray] = []
        self.max_episode_step = 0
        self.stale_updates = 0
        self.n_seen = 0
        self._pending: dict[str, Any] = {}
        self._patched = False

    def _on_training_start(self) -> None:
        if self._patched:
            return
        self._patched = True
        policy = self.model.policy
        optimizer_step = policy.optimizer.step

        def record(*args: Any, **kwargs: Any) -> None:
            self._record()
            if self.train_value:
                policy.action_net.weight.grad = None
                policy.action_net.bias.grad = None
                optimizer_step(*args, **kwargs)

        policy.optimizer.step = record

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        """Runs after the buffer's finalize(), before train(): recompute the extra estimators on the batch."""
        buffer = self.model.rollout_buffer
        self._pending = {}
        batch = next(buffer.get(), None)
        if batch is None:
            return
        gamma = self.model.gamma
        policy = self.model.policy
        log_prob = policy.get_distribution(batch.observations).log_prob(batch.actions.long().flatten())
        for name, estimator in self.estimators.items():
            psi = estimator(batch, gamma).to(log_prob.dtype)
            grads = th.autograd.grad(
                -(psi * log_prob).sum(), [policy.action_net.weight, policy.action_net.bias], retain_graph=True
            )
            self._pending[name] = _flat(*grads)
        first = batch.episode_steps == 0
        self._pending["episode_returns"] = batch.episode_returns[first].numpy()
        self._pending["max_episode_step"] = int(batch.episode_steps.max())
        self._pending["stale"] = bool(batch.stale.any())

    def _record(self) -> None:
        """Runs in train() in place of the optimizer step: the gradient of the loss on the batch is ready."""
        self.n_seen += 1
        if self.n_seen <= self.skip_updates:
            return
        buffer = self.model.rollout_buffer
        action_net = self.model.policy.action_net
        assert action_net.weight.grad is not None and action_net.bias.grad is not None
        self.sums.append(_flat(action_net.weight.grad, action_net.bias.grad) * self.model.policy_loss_divisor)
        self.n_episodes.append(buffer.batch_episodes)
        self.n_transitions.append(buffer.batch_steps)
        for name in self.estimators:
            self.others.setdefault(name, []).append(self._pending[name])
        self.episode_returns.append(self._pending["episode_returns"])
        self.max_episode_step = max(self.max_episode_step, self._pending["max_episode_step"])
        self.stale_updates += self._pending["stale"]


def make_model(
    mdp: TabularMDP, theta: tuple[np.ndarray, np.ndarray], env: Any = None, n_envs: int = N_ENVS, **kwargs: Any
) -> REINFORCE:
    """
    A REINFORCE model with the linear policy, its ``action_net`` set to ``theta = (W, b)``; no clipping,
    no advantage normalization, no entropy term; the value head, if used, fitted jointly on raw returns unless a test
    asks otherwise (``AUTO_CRITIC`` for the constructor's defaults).
    """
    params: dict[str, Any] = dict(
        n_critic_updates=None,
        batch_size=None,
        vf_learning_rate=None,
        normalize_value_targets=False,
        n_steps=16,
        gamma=1.0,
        normalize_advantage=False,
        max_grad_norm=float("inf"),
        ent_coef=0.0,
        policy_kwargs=LINEAR_POLICY,
        seed=0,
        device="cpu",
    )
    params.update(kwargs)
    model = REINFORCE("MlpPolicy", TabularVecEnv(mdp, n_envs) if env is None else env, **params)
    with th.no_grad():
        model.policy.action_net.weight.copy_(th.as_tensor(theta[0]))
        model.policy.action_net.bias.copy_(th.as_tensor(theta[1]))
    return model


def estimate(
    mdp: TabularMDP,
    theta: tuple[np.ndarray, np.ndarray],
    total_timesteps: int,
    estimators: dict[str, Estimator] | None = None,
    skip_updates: int = 0,
    env: Any = None,
    **kwargs: Any,
) -> GradientRun:
    """Run ``learn()`` with the policy held fixed at ``theta``; return the recorded estimates and the exact gradient."""
    model = make_model(mdp, theta, env=env, **kwargs)
    recorder = GradientRecorder(estimators=estimators or {}, skip_updates=skip_updates, train_value=model.baseline == "value")
    model.learn(total_timesteps, callback=recorder)
    action_net = model.policy.action_net
    value_error = float("nan")
    if model.baseline == "value":
        with th.no_grad():
            exact_values = mdp.exact_values(action_net.weight, action_net.bias, model.gamma)
            outputs = model.policy.predict_values(mdp.one_hot_observations().float())
            values = model.value_targets.values(outputs).flatten().double()
        value_error = float((values - exact_values).abs().max())
    assert np.allclose(_flat(action_net.weight, action_net.bias), _flat(th.as_tensor(theta[0]), th.as_tensor(theta[1])))
    assert len(recorder.sums) > 0
    return GradientRun(
        exact=mdp.exact_gradient(action_net.weight, action_net.bias, model.gamma),
        objective=float(mdp.exact_objective(action_net.weight, action_net.bias, model.gamma).detach()),
        sums=np.array(recorder.sums),
        divisor=model.policy_loss_divisor,
        n_episodes=np.array(recorder.n_episodes, dtype=np.float64),
        n_transitions=np.array(recorder.n_transitions, dtype=np.float64),
        others={name: np.array(values) for name, values in recorder.others.items()},
        episode_returns=np.concatenate(recorder.episode_returns),
        max_episode_step=recorder.max_episode_step,
        stale_updates=recorder.stale_updates,
        value_error=value_error,
    )


def random_theta(mdp: TabularMDP, seed: int, scale: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """Random policy parameters (W, b) for ``mdp``."""
    rng = np.random.default_rng(seed)
    return rng.normal(0, scale, (mdp.n_actions, mdp.n_obs)), rng.normal(0, scale, mdp.n_actions)


# --- the MDPs ---
# Delayed rewards: the only reward comes on ending, and depends on the state only. The expected immediate reward
# does not depend on the action, so the reward-to-come estimator has mean 0, while the true gradient does not.
MDP_UNDISCOUNTED = random_mdp(4, 3, seed=0, delayed=True)
THETA_UNDISCOUNTED = random_theta(MDP_UNDISCOUNTED, seed=100)
# A large reward on ending: without a baseline, the estimates are noisy
MDP_OFFSET = random_mdp(4, 3, seed=1, terminal_bonus=5.0)
THETA_OFFSET = random_theta(MDP_OFFSET, seed=101)
# Long episodes (~16 steps) from a fixed start state, and gamma^16 = 0.003: without the gamma^t weighting, the
# late steps weigh as much as the first ones, and the states visited late pull the other way
MDP_DISCOUNTED = random_mdp(4, 3, seed=9, end_probability=0.05, initial_state=0)
THETA_DISCOUNTED = random_theta(MDP_DISCOUNTED, seed=209)
GAMMA = 0.7
# The first action chooses an episode of CORRIDOR + 1 steps paying 1, or one of 2 steps paying 0.5
CORRIDOR = 300
MDP_CORRIDOR = corridor_mdp(CORRIDOR)
# p(corridor) = sigmoid(-0.8) = 0.31 in the start state; the corridor and short states are nearly deterministic
THETA_CORRIDOR = (np.array([[-0.4, 8.0, 8.0], [0.4, -8.0, -8.0]]), np.zeros(2))


# --- tests ---
@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    """Tiny tensors: one thread avoids the (large) cost of thread synchronisation on a shared machine."""
    n_threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(n_threads)


def test_linear_policy_is_w_onehot_plus_b() -> None:
    """With net_arch=dict(pi=[], vf=[]), the policy's logits are exactly W x + b of its action_net."""
    model = make_model(MDP_UNDISCOUNTED, THETA_UNDISCOUNTED)
    policy = model.policy
    assert type(policy.features_extractor).__name__ == "FlattenExtractor"
    assert len(policy.mlp_extractor.policy_net) == 0 and len(policy.mlp_extractor.value_net) == 0
    assert isinstance(policy.action_net, th.nn.Linear)
    names = {name for name, _ in policy.named_parameters()}
    assert names == {"action_net.weight", "action_net.bias", "value_net.weight", "value_net.bias"}
    observations = th.eye(MDP_UNDISCOUNTED.n_obs)
    weight, bias = th.as_tensor(THETA_UNDISCOUNTED[0]), th.as_tensor(THETA_UNDISCOUNTED[1])
    expected = th.log_softmax(observations.double() @ weight.T + bias, dim=-1)
    with th.no_grad():
        log_probs = policy.get_distribution(observations).distribution.logits
    assert th.allclose(log_probs.double(), expected, atol=1e-5)


def test_closed_form_objective_matches_sampled_returns() -> None:
    """The closed-form J equals the mean return of the sampled episodes (checks tests/mdp.py against the env)."""
    for mdp, theta, gamma in (
        (MDP_UNDISCOUNTED, THETA_UNDISCOUNTED, 1.0),
        (MDP_DISCOUNTED, THETA_DISCOUNTED, GAMMA),
    ):
        run = estimate(mdp, theta, 50_000, gamma=gamma, baseline=None)
        returns = run.episode_returns
        standard_error = returns.std() / np.sqrt(len(returns))
        print(f"J exact {run.objective:.4f}, sampled {returns.mean():.4f} +- {standard_error:.4f} ({len(returns)} episodes)")
        assert abs(returns.mean() - run.objective) < 5 * standard_error


def test_policy_gradient_theorem() -> None:
    """The autograd gradient of the closed-form J equals sum_s d_gamma(s) sum_a grad pi(a|s) Q_gamma(s, a)."""
    for mdp, theta, gamma in (
        (MDP_UNDISCOUNTED, THETA_UNDISCOUNTED, 1.0),
        (MDP_DISCOUNTED, THETA_DISCOUNTED, GAMMA),
        (MDP_CORRIDOR, THETA_CORRIDOR, 1.0),
    ):
        weight, bias = (th.tensor(x, requires_grad=True) for x in theta)
        theorem = mdp.score_gradient(weight, bias, mdp.visitation(weight, bias, gamma), mdp.action_values(weight, bias, gamma))
        assert np.allclose(mdp.exact_gradient(weight, bias, gamma), theorem, atol=1e-10)


@pytest.mark.slow
def test_gymnasium_env() -> None:
    """TabularEnv is a valid gymnasium env, and in a DummyVecEnv it gives the same result as TabularVecEnv."""
    check_env(TabularEnv(MDP_UNDISCOUNTED))
    env = DummyVecEnv([lambda: TabularEnv(MDP_UNDISCOUNTED)] * 16)
    run = estimate(MDP_UNDISCOUNTED, THETA_UNDISCOUNTED, 40_000, env=env, baseline="leave_one_out")
    print(f"gymnasium env, leave_one_out: cosine {run.cosine:.4f} ({int(run.n_episodes.sum())} episodes)")
    assert run.cosine >= 0.97


@pytest.mark.slow
@pytest.mark.parametrize("reward_to_go_", [True, False])
@pytest.mark.parametrize("baseline", [None, "mean", "leave_one_out", "value"])
def test_undiscounted_direction(reward_to_go_: bool, baseline: str | None) -> None:
    """gamma = 1: every estimator's mean update direction is -grad J (cosine >= 0.99); reward-to-come is not."""
    estimators: dict[str, Estimator] = {"reward_to_come": reward_to_come}
    if baseline is None:
        estimators["independent"] = reward_to_go if reward_to_go_ else whole_return
    run = estimate(
        MDP_UNDISCOUNTED,
        THETA_UNDISCOUNTED,
        200_000,
        estimators=estimators,
        reward_to_go=reward_to_go_,
        baseline=baseline,
        **(dict(learning_rate=0.1) if baseline == "value" else {}),
        skip_updates=50 if baseline == "value" else 0,
    )
    wrong = run.other_cosine("reward_to_come")
    print(
        f"gamma=1 reward_to_go={reward_to_go_} baseline={baseline}: cosine {run.cosine:.4f}, "
        f"relative error {run.relative_error:.3f}, variance {run.variance:.4f}, "
        f"reward-to-come cosine {wrong:.4f} ({int(run.n_episodes.sum())} episodes, {len(run.sums)} updates)"
    )
    assert run.cosine >= 0.99
    assert run.relative_error < 0.15
    # Its expectation is exactly 0 on this MDP: its direction is noise
    assert wrong < 0.9
    if baseline is None:
        # The recorded update is exactly the score-function sum, recomputed independently from the batch, divided by
        # N = n_steps * n_envs (a number written here, not read from the model)
        assert run.divisor == 16 * N_ENVS
        scale = np.abs(run.sums).max() / run.divisor
        assert np.allclose(run.sums / run.divisor, run.others["independent"] / (16 * N_ENVS), atol=1e-4 * scale)


def test_n_episodes_mode() -> None:
    """With ``n_episodes`` (rollouts of at least that many episodes instead of n_steps), the estimate is still exact."""
    run = estimate(MDP_UNDISCOUNTED, THETA_UNDISCOUNTED, 100_000, n_episodes=100, baseline="leave_one_out")
    print(f"n_episodes=100, leave_one_out: cosine {run.cosine:.4f}, relative error {run.relative_error:.3f}")
    assert run.cosine >= 0.99
    assert run.relative_error < 0.15
    # the loss is per episode: N = n_episodes
    assert run.divisor == 100


@pytest.mark.slow
def test_chunked_update() -> None:
    """
    ``chunk_size``: the gradient accumulated over chunks of 7 steps is the gradient of the whole batch (up to float
    rounding), update by update, and its direction is -grad J. (The value baseline's chunked prediction and fit are
    compared with the whole batch's in ``tests/test_update.py``.)
    """
    whole = estimate(MDP_UNDISCOUNTED, THETA_UNDISCOUNTED, 60_000, baseline="leave_one_out")
    chunked = estimate(MDP_UNDISCOUNTED, THETA_UNDISCOUNTED, 60_000, baseline="leave_one_out", chunk_size=7)
    print(f"chunk_size=7, leave_one_out: cosine {chunked.cosine:.4f}, relative error {chunked.relative_error:.3f}")
    assert chunked.n_transitions.min() > 7 * 10
    assert np.allclose(chunked.sums, whole.sums, rtol=1e-4, atol=1e-4 * np.abs(whole.sums).max())
    assert chunked.cosine >= 0.99
    assert chunked.relative_error < 0.15


@pytest.mark.slow
def test_discount_weighting() -> None:
    """
    gamma < 1, reward_to_go=True: with the gamma^t weighting the direction is -grad J_gamma; without it (the usual
    practice), it is measurably biased.
    """
    weighted = estimate(MDP_DISCOUNTED, THETA_DISCOUNTED, 150_000, gamma=GAMMA, baseline=None, discount_weighting=True)
    plain = estimate(MDP_DISCOUNTED, THETA_DISCOUNTED, 150_000, gamma=GAMMA, baseline=None, discount_weighting=False)
    mdp, weight, bias = MDP_DISCOUNTED, *(th.tensor(x, requires_grad=True) for x in THETA_DISCOUNTED)
    # The biased estimator's expectation: undiscounted state visitation d_1 instead of d_gamma
    predicted = cosine(
        mdp.score_gradient(weight, bias, mdp.visitation(weight, bias, 1.0), mdp.action_values(weight, bias, GAMMA)),
        plain.exact,
    )
    print(
        f"gamma={GAMMA}, reward_to_go=True: cosine with discount_weighting {weighted.cosine:.4f}, "
        f"without {plain.cosine:.4f} (its expectation: {predicted:.4f})"
    )
    assert weighted.cosine >= 0.99
    assert plain.cosine < 0.8
    assert abs(plain.cosine - predicted) < 0.05


@pytest.mark.slow
def test_whole_return_is_unbiased_without_discount_weighting() -> None:
    """
    gamma < 1, reward_to_go=False: R(tau) = G_0 already discounts every reward from the start of the episode, so the
    plain estimator sum_t grad log pi(a_t|s_t) R(tau) is the likelihood-ratio gradient of J_gamma: unbiased.
    Weighting it by gamma^t as well (which REINFORCE refuses with a ValueError) weighs G_t by gamma^(2t): biased.
    """
    run = estimate(
        MDP_DISCOUNTED,
        THETA_DISCOUNTED,
        300_000,
        gamma=GAMMA,
        baseline="leave_one_out",
        reward_to_go=False,
        discount_weighting=False,
        estimators={"discounted_whole_return": discounted_whole_return},
    )
    wrong = run.other_cosine("discounted_whole_return")
    mdp, weight, bias = MDP_DISCOUNTED, *(th.tensor(x, requires_grad=True) for x in THETA_DISCOUNTED)
    # What the wrong one estimates: step t weighted by gamma^(2t), i.e. the visitation d_{gamma^2}
    predicted = cosine(
        mdp.score_gradient(weight, bias, mdp.visitation(weight, bias, GAMMA**2), mdp.action_values(weight, bias, GAMMA)),
        run.exact,
    )
    print(
        f"gamma={GAMMA}, reward_to_go=False: cosine without discount_weighting {run.cosine:.4f}; with gamma^t as well "
        f"{wrong:.4f} (its expectation {predicted:.4f})"
    )
    assert run.cosine >= 0.99
    assert wrong < 0.95
    assert abs(wrong - predicted) < 0.05
    with pytest.raises(ValueError, match="discount_weighting"):
        make_model(MDP_DISCOUNTED, THETA_DISCOUNTED, gamma=GAMMA, reward_to_go=False, discount_weighting=True)


@pytest.mark.slow
def test_baselines_reduce_variance() -> None:
    """
    Rewards with a large offset (+5 on ending): "leave_one_out" and a trained "value" baseline make the per-update
    estimates much less variable than no baseline, and all three stay unbiased.
    """
    runs = {
        baseline: estimate(
            MDP_OFFSET,
            THETA_OFFSET,
            100_000,
            baseline=baseline,
            **(dict(learning_rate=0.1, skip_updates=30) if baseline == "value" else {}),
        )
        for baseline in (None, "leave_one_out", "value")
    }
    for baseline, run in runs.items():
        print(
            f"offset rewards, baseline={baseline}: variance {run.variance:.4f}, cosine {run.cosine:.4f} "
            f"({len(run.sums)} updates, {run.n_episodes.mean():.0f} episodes each)"
            + (f", value head max error {run.value_error:.3f}" if baseline == "value" else "")
        )
    none = runs[None].variance
    assert runs["leave_one_out"].variance < 0.3 * none
    assert runs["value"].variance < 0.3 * none
    assert runs["value"].value_error < 0.3
    assert runs[None].cosine >= 0.85
    assert runs["leave_one_out"].cosine >= 0.99
    assert runs["value"].cosine >= 0.99


@pytest.mark.slow
def test_separate_critic() -> None:
    """
    ``n_critic_updates``: the value head fitted apart, after the policy's step, on batches it has not seen when it
    gives their baseline: the direction is -grad J. A baseline fitted on the batch it is used for (computed after the
    fit) is not: on small batches its update is far too short, since each step's own return is in its baseline.
    """
    run = estimate(
        MDP_OFFSET,
        THETA_OFFSET,
        25_000,
        n_envs=2,
        n_steps=8,
        baseline="value",
        n_critic_updates=5,
        vf_learning_rate=0.05,
        skip_updates=150,
        estimators={"fitted_on_the_batch": fitted_on_the_batch},
    )
    after = run.others["fitted_on_the_batch"].sum(0) / run.n_episodes.sum()
    after_error = float(np.linalg.norm(after + run.exact) / np.linalg.norm(run.exact))
    print(
        f"separate critic: cosine {run.cosine:.4f}, relative error {run.relative_error:.3f}, value head max error "
        f"{run.value_error:.3f}; baseline fitted on the batch: cosine {cosine(after, -run.exact):.4f}, relative error "
        f"{after_error:.3f}"
    )
    # the head has learned (untrained, its error is the terminal bonus, 5): on batches of ~16 steps it stays noisy
    assert run.value_error < 1.0
    assert run.cosine >= 0.99
    assert run.relative_error < 0.15
    assert after_error > 0.25


@pytest.mark.slow
def test_normalized_value_targets() -> None:
    """
    ``normalize_value_targets``: the head regresses the returns standardized by running statistics, which a batch
    updates only after its baseline is computed; mapped back, its baseline is as good as the plain one (offset
    rewards, as in ``test_baselines_reduce_variance``), and the direction is still -grad J.
    """
    kwargs: dict[str, Any] = dict(baseline="value", learning_rate=0.1, skip_updates=30)
    run = estimate(MDP_OFFSET, THETA_OFFSET, 100_000, normalize_value_targets=True, **kwargs)
    none = estimate(MDP_OFFSET, THETA_OFFSET, 100_000, baseline=None)
    print(
        f"normalized value targets: cosine {run.cosine:.4f}, relative error {run.relative_error:.3f}, variance "
        f"{run.variance:.4f} (no baseline {none.variance:.4f}), value head max error {run.value_error:.3f}"
    )
    assert run.value_error < 0.3
    assert run.variance < 0.3 * none.variance
    assert run.cosine >= 0.99
    assert run.relative_error < 0.15


#: The constructor's critic arguments, left to resolve themselves
AUTO_CRITIC = dict.fromkeys(("n_critic_updates", "batch_size", "vf_learning_rate", "normalize_value_targets"), "auto")


@pytest.mark.slow
def test_default_critic() -> None:
    """
    The constructor's defaults (``"auto"``): with the value baseline, the critic fitted apart in one pass of
    minibatches of 64 at 2e-3, on normalized targets. The direction is still -grad J, and the baseline removes
    variance (offset rewards, as in ``test_baselines_reduce_variance``).
    """
    model = make_model(MDP_OFFSET, THETA_OFFSET, baseline="value", **AUTO_CRITIC)
    assert (model.n_critic_updates, model.batch_size, model.vf_learning_rate, model.normalize_value_targets) == (
        1,
        64,
        2e-3,
        True,
    )
    run = estimate(MDP_OFFSET, THETA_OFFSET, 100_000, baseline="value", skip_updates=30, **AUTO_CRITIC)
    none = estimate(MDP_OFFSET, THETA_OFFSET, 100_000, baseline=None)
    print(
        f"default critic: cosine {run.cosine:.4f}, relative error {run.relative_error:.3f}, variance "
        f"{run.variance:.4f} (no baseline {none.variance:.4f}), value head max error {run.value_error:.3f}"
    )
    assert run.variance < 0.5 * none.variance
    assert run.cosine >= 0.99
    assert run.relative_error < 0.15


@functools.cache
def corridor_run(baseline: str | None) -> GradientRun:
    """The corridor with n_steps=16 and 8 envs, 100k steps (shared by the tests below)."""
    return estimate(
        MDP_CORRIDOR,
        THETA_CORRIDOR,
        100_000,
        n_envs=8,
        n_steps=16,
        baseline=baseline,
        estimators={"drop_cut_episodes": drop_cut_episodes},
    )


@pytest.mark.slow
@pytest.mark.parametrize("baseline", [None, "leave_one_out"])
def test_long_episodes_cut_by_rollouts(baseline: str | None) -> None:
    """
    Episodes of 301 steps with n_steps=16: every long episode spans many rollouts and is carried over; the update
    direction still agrees with -grad J. Dropping the episodes cut by a rollout edge would keep only short
    episodes and point the other way.
    """
    run = corridor_run(baseline)
    dropped = run.other_cosine("drop_cut_episodes")
    long_share = float(np.mean(run.episode_returns == 1.0))
    p_long = float(th.softmax(th.as_tensor(THETA_CORRIDOR[0][:, 0] + THETA_CORRIDOR[1]), dim=0)[0])
    print(
        f"corridor of {CORRIDOR}, n_steps=16, baseline={baseline}: cosine {run.cosine:.4f}, relative error "
        f"{run.relative_error:.3f}, dropping cut episodes {dropped:.4f} ({int(run.n_episodes.sum())} episodes, "
        f"{long_share:.3f} long; p = {p_long:.3f}); mean raw update (SGD's expected step) "
        f"{cosine(run.mean_update, -run.exact):.4f}"
    )
    assert run.max_episode_step == CORRIDOR
    assert run.stale_updates > 0.5 * len(run.sums)
    assert run.cosine > 0.95
    assert run.relative_error < 0.3
    assert dropped < -0.5


@pytest.mark.slow
def test_expected_update_with_long_episodes() -> None:
    """
    The step SGD takes in expectation is the mean of the raw per-update gradients. On the corridor, it points along
    -grad J like the pooled per-episode estimate does. (When train() divided each batch's sum by the batch's own
    number of transitions, which the long episodes inflate, this cosine was -1.)
    """
    run = corridor_run(None)
    expected_step = cosine(run.mean_update, -run.exact)
    # WRONG: each batch's sum divided by its own number of transitions (the loss of SB3's A2C, a mean over steps)
    per_own_size = cosine((run.sums / run.n_transitions[:, None]).mean(0), -run.exact)
    rescaled = cosine(run.per_update.mean(0), -run.exact)
    print(
        f"corridor, baseline=None: mean raw update cosine {expected_step:.4f}; rescaled by divisor/n_episodes "
        f"{rescaled:.4f}; pooled {run.cosine:.4f} (batches of {run.n_transitions.min():.0f} to "
        f"{run.n_transitions.max():.0f} transitions); divided by the batch's own size {per_own_size:.4f}"
    )
    assert expected_step > 0.9
    assert per_own_size < 0


class StepRecorder(BaseCallback):
    """
    Record every update of a policy that starts each rollout at ``theta``: the gradient handed to the optimizer
    (:math:`-\\hat g`, flattened ``[W, b]``), the step the update took, and its ``train/approx_kl``; then put the
    policy back at ``theta``, so that every update is a step from the same parameters.
    """

    def __init__(self, theta: tuple[np.ndarray, np.ndarray]):
        super().__init__()
        self.theta = _flat(th.as_tensor(theta[0]), th.as_tensor(theta[1]))
        self.gradients: list[np.ndarray] = []
        self.steps: list[np.ndarray] = []
        self.kls: list[float] = []

    def _on_training_start(self) -> None:
        policy = self.model.policy
        optimizer_step = policy.optimizer.step

        def record(*args: Any, **kwargs: Any) -> None:
            self.gradients.append(_flat(policy.action_net.weight.grad, policy.action_net.bias.grad))
            optimizer_step(*args, **kwargs)

        policy.optimizer.step = record

    def _on_rollout_start(self) -> None:
        self.close_step()

    def _on_step(self) -> bool:
        return True

    def close_step(self) -> None:
        """Record the last update's step and KL (if it took one), and put the policy back at ``theta``."""
        action_net = self.model.policy.action_net
        if len(self.steps) < len(self.gradients):
            self.steps.append(_flat(action_net.weight, action_net.bias) - self.theta)
            self.kls.append(self.model.logger.name_to_value["train/approx_kl"])
        n_weights = action_net.weight.numel()
        with th.no_grad():
            action_net.weight.copy_(th.as_tensor(self.theta[:n_weights]).view_as(action_net.weight))
            action_net.bias.copy_(th.as_tensor(self.theta[n_weights:]))


@pytest.mark.slow
def test_max_step_kl_keeps_the_direction() -> None:
    """
    ``max_step_kl``: with SGD, each update is :math:`\\alpha \\, lr \\, \\hat g`, the score-function estimate times a
    fraction :math:`\\alpha \\in \\{1, 1/2, 1/4, \\dots\\}` (0: no step) chosen so that the step moves the policy by at
    most the bound on its batch. From the same parameters each time, the estimates and the steps both point along
    :math:`\\nabla J`.
    """
    learning_rate, bound = 2.0, 0.002
    model = make_model(
        MDP_UNDISCOUNTED,
        THETA_UNDISCOUNTED,
        baseline="leave_one_out",
        learning_rate=learning_rate,
        max_step_kl=bound,
        policy_kwargs=dict(LINEAR_POLICY, optimizer_class=th.optim.SGD),
    )
    recorder = StepRecorder(THETA_UNDISCOUNTED)
    model.learn(100_000, callback=recorder)
    recorder.close_step()
    weight, bias = (th.tensor(x, requires_grad=True) for x in THETA_UNDISCOUNTED)
    exact = MDP_UNDISCOUNTED.exact_gradient(weight, bias, 1.0)
    estimates, steps = -np.array(recorder.gradients), np.array(recorder.steps)
    fractions = np.linalg.norm(steps, axis=1) / (learning_rate * np.linalg.norm(estimates, axis=1))
    taken = fractions > 1e-9
    powers = np.where(taken, 2.0 ** np.round(np.log2(np.where(taken, fractions, 1.0))), 0.0)
    fractions_seen = dict(zip(*np.unique(powers, return_counts=True), strict=True))
    cosines = [cosine(step, estimate) for step, estimate in zip(steps[taken], estimates[taken], strict=True)]
    print(
        f"max_step_kl={bound}: {len(steps)} updates, step fractions {fractions_seen}, largest KL "
        f"{max(recorder.kls):.4f}; cosine with grad J: estimates {cosine(estimates.mean(0), exact):.4f}, "
        f"steps {cosine(steps.mean(0), exact):.4f}"
    )
    # each step is the estimate times a positive fraction 2^-k, at most the whole step, and moved the policy within the bound
    assert min(cosines) > 0.9999
    assert np.allclose(fractions, powers, rtol=1e-4, atol=1e-9)
    assert (powers < 1).mean() > 0.2 and (powers == 1).any()
    assert max(recorder.kls) <= bound
    # the estimates are the score-function estimate of grad J, and the shortened steps still point along it
    assert cosine(estimates.mean(0), exact) >= 0.99
    assert cosine(steps.mean(0), exact) >= 0.98
