"""Validation of REINFORCE's constructor arguments: one clear error per bad value, naming the argument and the fix."""

from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.type_aliases import Schedule

from sb3_reinforce.common.buffers import EpisodicRolloutBuffer

BASELINES = (None, "value", "mean", "leave_one_out")

# Arguments of A2C and PPO that a Zoo user may bring over, and why REINFORCE has none of them
FOREIGN_ARGUMENTS = {
    "gae_lambda": "REINFORCE uses the Monte Carlo returns of complete episodes: there is no gae_lambda (it is always 1)",
    "n_epochs": "REINFORCE takes one gradient step per batch of complete episodes (more epochs would make it PPO)",
    "clip_range": "REINFORCE has no clipped surrogate objective (that is PPO's)",
    "clip_range_vf": "REINFORCE has no clipped value loss (that is PPO's)",
    "target_kl": "REINFORCE takes one gradient step per batch: there is no early stopping on the KL divergence (to "
    "bound how far one update moves the policy, use max_step_kl)",
    "rms_prop_eps": "REINFORCE uses the policy's optimizer (Adam by default); set it with policy_kwargs=dict("
    "optimizer_class=..., optimizer_kwargs=...)",
    "use_rms_prop": "REINFORCE uses the policy's optimizer (Adam by default); set it with policy_kwargs=dict("
    "optimizer_class=th.optim.RMSprop)",
}


#: Arguments that an earlier sb3-reinforce took, and what replaces them
REMOVED_ARGUMENTS = {
    "vf_max_grad_norm": "removed after sb3-reinforce 0.1.0. It clipped the value head's gradient apart from the "
    "policy's in the joint fit; fit the value head apart instead (n_critic_updates=1, the default with "
    "baseline='value'), which clips its gradient on its own at max_grad_norm",
}


def reject_unknown_arguments(class_name: str, kwargs: dict[str, Any], method: str = "__init__") -> None:
    """
    Raise a ``TypeError`` for constructor arguments REINFORCE does not take, saying why for A2C/PPO ones and what
    replaces a removed one.

    :param class_name: the class, for the message
    :param kwargs: the arguments it does not take
    :param method: the method they were given to, for the message
    """
    if not kwargs:
        return
    reasons = {**FOREIGN_ARGUMENTS, **REMOVED_ARGUMENTS}
    lines = [f"{name}: {reasons.get(name, 'not an argument of ' + class_name)}" for name in sorted(kwargs)]
    many = len(lines) > 1
    raise TypeError(
        f"{class_name}.{method}() got {'unexpected keyword arguments' if many else 'an unexpected keyword argument'}. "
        + "; ".join(lines)
        + (". Remove them." if many else ". Remove it.")
    )


#: What the critic's ``"auto"`` arguments resolve to when the value head is used (``baseline="value"`` or
#: ``bootstrap_truncated``): the value head fitted apart, in one pass of minibatches of 64 steps at 2e-3, on
#: standardized returns (benchmarks/defaults.json). Without the value head: None, and False.
AUTO_CRITIC: dict[str, Any] = {
    "n_critic_updates": 1,
    "batch_size": 64,
    "vf_learning_rate": 2e-3,
    "normalize_value_targets": True,
}


class CriticArguments(NamedTuple):
    """The critic's arguments of REINFORCE, with no ``"auto"`` left (``resolve_critic``)."""

    n_critic_updates: int | None
    batch_size: int | None
    vf_learning_rate: float | Schedule | None
    normalize_value_targets: bool


def uses_value_head(baseline: str | None, bootstrap_truncated: bool) -> bool:
    """Whether the value head is used: as the baseline, or to bootstrap the episodes cut by a time limit."""
    return baseline == "value" or bool(bootstrap_truncated)


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == "auto"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and bool(value >= minimum)


def _check_flags(flags: dict[str, Any]) -> None:
    for name, flag in flags.items():
        if not isinstance(flag, (bool, np.bool_)):
            choices = "'auto', True or False" if name in AUTO_CRITIC else "True or False"
            raise ValueError(f"{name} must be {choices}, got {flag!r}.")


def resolve_critic(
    baseline: str | None,
    bootstrap_truncated: bool,
    n_critic_updates: int | str | None,
    batch_size: int | str | None,
    vf_learning_rate: float | Schedule | str | None,
    normalize_value_targets: bool | str,
) -> CriticArguments:
    """
    Resolve the critic's ``"auto"`` arguments and check them against the baseline.
    ``n_critic_updates`` and ``normalize_value_targets`` follow whether the value head is used, ``batch_size`` and
    ``vf_learning_rate`` whether it is fitted apart (``n_critic_updates`` not None): ``AUTO_CRITIC``'s value where
    they apply, else None (False for ``normalize_value_targets``).

    :return: the resolved arguments
    :raise ValueError: for an invalid value, or one that the baseline does not use, naming the fix
    """
    uses_value = uses_value_head(baseline, bootstrap_truncated)
    if _is_auto(normalize_value_targets):
        normalize_value_targets = uses_value
    if _is_auto(n_critic_updates):
        n_critic_updates = AUTO_CRITIC["n_critic_updates"] if uses_value else None
    fitted_apart = n_critic_updates is not None
    if _is_auto(batch_size):
        batch_size = AUTO_CRITIC["batch_size"] if fitted_apart else None
    if _is_auto(vf_learning_rate):
        vf_learning_rate = AUTO_CRITIC["vf_learning_rate"] if fitted_apart else None
    _check_flags({"normalize_value_targets": normalize_value_targets})
    if normalize_value_targets and not uses_value:
        raise ValueError(
            f"normalize_value_targets=True standardizes the value head's targets, which baseline={baseline!r} does not "
            "use. Set baseline='value' (or bootstrap_truncated=True), or normalize_value_targets=False."
        )
    if not fitted_apart:
        for name, value in (("batch_size", batch_size), ("vf_learning_rate", vf_learning_rate)):
            if value is not None:
                raise ValueError(
                    f"{name}={value!r} applies to the critic fitted apart, which is off here (n_critic_updates=None: "
                    f"the value head, if baseline={baseline!r} uses it, is fitted jointly with the policy). Set "
                    f"n_critic_updates (with baseline='value'), or remove {name}."
                )
    elif not _is_int(n_critic_updates, 1):
        raise ValueError(f"n_critic_updates must be 'auto', None or an integer >= 1, got {n_critic_updates!r}.")
    elif not uses_value:
        raise ValueError(
            f"n_critic_updates={n_critic_updates} fits the value head, which baseline={baseline!r} does not use. "
            "Set baseline='value' (or bootstrap_truncated=True), or n_critic_updates=None."
        )
    elif batch_size is not None and not _is_int(batch_size, 1):
        raise ValueError(f"batch_size must be 'auto', None (full batch) or an integer >= 1, got {batch_size!r}.")
    elif (
        vf_learning_rate is not None
        and not callable(vf_learning_rate)
        and not (_is_number(vf_learning_rate) and float(vf_learning_rate) > 0)  # type: ignore[arg-type]
    ):
        raise ValueError(
            f"vf_learning_rate must be 'auto', None (learning_rate), a float > 0 or a schedule, got {vf_learning_rate!r}."
        )
    return CriticArguments(n_critic_updates, batch_size, vf_learning_rate, bool(normalize_value_targets))  # type: ignore[arg-type]


FLAGS = ("reward_to_go", "discount_weighting", "normalize_advantage", "bootstrap_truncated", "stale_correction", "use_sde")


def _check_step_bounds(max_grad_norm: Any, max_step_kl: Any) -> None:
    """What bounds the policy's step: the gradient's norm, and how far the step may move the policy."""
    if not _is_number(max_grad_norm) or np.isnan(max_grad_norm) or max_grad_norm <= 0:
        raise ValueError(f"max_grad_norm must be > 0 (use float('inf') to disable clipping), got {max_grad_norm!r}.")
    if max_step_kl is not None and not (_is_number(max_step_kl) and np.isfinite(max_step_kl) and max_step_kl > 0):
        raise ValueError(
            f"max_step_kl must be None (the optimizer's step as it is) or a finite float > 0 (the largest KL divergence "
            f"one update may move the policy by, e.g. 0.02), got {max_step_kl!r}."
        )


def check_arguments(model: Any) -> CriticArguments:
    """
    Check REINFORCE's arguments as set on the model (by the constructor, or by ``load(path, **kwargs)``): a
    ``ValueError`` that names the argument and its valid range for every invalid one. Then resolve the critic's.

    :param model: the REINFORCE model, before ``_setup_model`` builds anything
    :return: the critic's arguments, resolved (``resolve_critic``)
    """
    _check_flags({name: getattr(model, name) for name in FLAGS})
    learning_rate, n_steps, n_episodes, gamma = model.learning_rate, model.n_steps, model.n_episodes, model.gamma
    # 0 is allowed: loading a model for inference only sets it (the RL Zoo's enjoy, custom_objects={"learning_rate": 0.0})
    if not callable(learning_rate) and not (_is_number(learning_rate) and learning_rate >= 0):
        raise ValueError(f"learning_rate must be a float >= 0 or a schedule (callable), got {learning_rate!r}.")
    if not _is_int(n_steps, 1):
        raise ValueError(f"n_steps must be an integer >= 1 (steps per env per update), got {n_steps!r}.")
    if n_episodes is not None and not _is_int(n_episodes, 1):
        raise ValueError(f"n_episodes must be None or an integer >= 1 (episodes per update), got {n_episodes!r}.")
    if not _is_number(gamma) or not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}.")
    if model.baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}, got {model.baseline!r}.")
    for name, coef in (("ent_coef", model.ent_coef), ("vf_coef", model.vf_coef)):
        if not _is_number(coef) or not np.isfinite(coef) or coef < 0:
            raise ValueError(f"{name} must be a finite float >= 0, got {coef!r}.")
    _check_step_bounds(model.max_grad_norm, model.max_step_kl)
    if model.discount_weighting and not model.reward_to_go:
        raise ValueError(
            "discount_weighting=True weights step t's reward-to-go G_t by gamma^t (Sutton & Barto); it needs "
            "reward_to_go=True. The whole return R(tau) already discounts every reward from the episode's start, so "
            "reward_to_go=False is unbiased for the discounted objective without the weighting (and biased with it). "
            "Set discount_weighting=False, or reward_to_go=True."
        )
    if model.chunk_size is not None and not _is_int(model.chunk_size, 1):
        raise ValueError(f"chunk_size must be None (automatic) or an integer >= 1 (steps per pass), got {model.chunk_size!r}.")
    if not (model.sde_sample_freq == -1 or _is_int(model.sde_sample_freq, 1)):
        raise ValueError(f"sde_sample_freq must be -1 (once per rollout) or an integer >= 1, got {model.sde_sample_freq!r}.")
    if not _is_int(model._stats_window_size, 1):
        raise ValueError(f"stats_window_size must be an integer >= 1, got {model._stats_window_size!r}.")
    if not (isinstance(model.rollout_buffer_class, type) and issubclass(model.rollout_buffer_class, EpisodicRolloutBuffer)):
        raise ValueError(
            f"rollout_buffer_class must be a subclass of EpisodicRolloutBuffer (REINFORCE needs complete episodes), "
            f"got {model.rollout_buffer_class!r}. Leave it None to use EpisodicRolloutBuffer."
        )
    reserved = {"buffer_size", "observation_space", "action_space", "device", "gamma", "gae_lambda", "n_envs"}
    clash = sorted(reserved.intersection(model.rollout_buffer_kwargs or {}))
    if clash:
        raise ValueError(
            f"rollout_buffer_kwargs may not set {clash}: REINFORCE passes them itself "
            "(gae_lambda is always 1: Monte Carlo returns; set gamma and n_steps on REINFORCE)."
        )
    return resolve_critic(
        model.baseline,
        model.bootstrap_truncated,
        model.n_critic_updates,
        model.batch_size,
        model.vf_learning_rate,
        model.normalize_value_targets,
    )


def check_finite(rewards: np.ndarray, new_obs: Any) -> None:
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


class UnsupportedActionSpaceError(ValueError, AssertionError):
    """
    An action space that SB3's policies refuse. SB3 raises an ``AssertionError`` for it: this error is also one, so
    that code written for A2C that catches SB3's error catches REINFORCE's (and code that catches ``ValueError``
    too).
    """


def check_action_space(action_space: spaces.Space) -> None:
    """
    The multi-dimensional MultiBinary and MultiDiscrete action spaces that SB3's policies refuse: a clear error.

    :raise UnsupportedActionSpaceError: a ``ValueError`` and an ``AssertionError``, as SB3 raises
    """
    nvec = getattr(action_space, "nvec", None)
    if (isinstance(action_space, spaces.MultiBinary) and len(action_space.shape) > 1) or (
        isinstance(action_space, spaces.MultiDiscrete) and nvec is not None and np.ndim(nvec) > 1
    ):
        raise UnsupportedActionSpaceError(
            f"Multi-dimensional {action_space} action space is not supported (SB3's policies do not support it either). "
            "Flatten it instead: give the agent a one-dimensional space (e.g. MultiDiscrete(nvec.flatten())) and reshape "
            "the action inside the env."
        )
