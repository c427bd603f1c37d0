"""
Optuna sampler of REINFORCE hyperparameters for the RL Zoo's ``-optimize`` mode,
and the converter that turns the parameters of a stored trial back into hyperparameters.

Both follow the Zoo's conventions (``rl_zoo3.hyperparams_opt``): the sampler has the signature
``(trial, n_actions, n_envs, additional_args) -> dict``, the values Optuna stores are the *sampled* ones
(``one_minus_gamma``, ``n_steps_pow``, ``net_arch`` as a name, ...), and the converter maps them to the
keyword arguments of :class:`sb3_reinforce.REINFORCE`.
"""

from typing import Any

import optuna
from torch import nn

#: Network sizes, by the names the Zoo's on-policy samplers use. REINFORCE always builds the value head
#: (it is only trained and used with ``baseline="value"``), so ``vf`` follows ``pi``.
NET_ARCHS: dict[str, dict[str, list[int]]] = {
    "tiny": dict(pi=[64], vf=[64]),
    "small": dict(pi=[64, 64], vf=[64, 64]),
    "medium": dict(pi=[256, 256], vf=[256, 256]),
}

ACTIVATION_FNS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
}

#: The Zoo prints a study's best ``trial.params`` as ``name: value`` lines, which users paste into a yml file.
#: ``baseline=None`` is stored as the string "null", which YAML reads as ``None``; :func:`convert_reinforce_params`
#: maps it (and "none", which older versions stored) back to ``None``.
BASELINE_CHOICES: tuple[str, ...] = ("null", "value", "mean", "leave_one_out")

#: Steps of the critic fitted apart per update (``n_critic_updates``); 0: fitted jointly with the policy
CRITIC_UPDATES: tuple[int, ...] = (0, 1, 5, 20, 80)

#: Steps per minibatch of the critic fitted apart (``batch_size``); 0: one full-batch step per pass. 64 is the
#: constructor's default critic (``AUTO_CRITIC``)
CRITIC_BATCH_SIZES: tuple[int, ...] = (0, 64)

#: What the stored value of ``baseline`` may be for ``baseline=None``
NO_BASELINE = ("null", "none", None)

#: The bound on one update's move of the policy (``max_step_kl``); "null": none, the optimizer's step as it is
STEP_KL_CHOICES: tuple[str | float, ...] = ("null", 0.002, 0.005, 0.02)

#: The names under which :func:`sample_reinforce_params` stores its values (``trial.params``), in the order it samples
#: them: the one list that the sampler, ``python -m sb3_reinforce.zoo.enqueue`` and docs/reinforce.md follow.
SAMPLED_NAMES: tuple[str, ...] = (
    "learning_rate",
    "n_steps_pow",
    "one_minus_gamma",
    "baseline",
    "normalize_advantage",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
    "max_step_kl",
    "critic_updates",
    "critic_learning_rate",
    "critic_batch_size",
    "value_target_normalization",
    "net_arch",
    "activation_fn",
    "log_std_init",
)

#: The names sampled only in some trials: ``name: (parent, values)``, sampled (and stored) only when the parameter
#: ``parent`` took one of ``values``. The critic applies to the value baseline only, and its own learning rate to the
#: critic fitted apart only, so a trial's params never list a value that its model does not use.
SAMPLED_WHEN: dict[str, tuple[str, tuple[Any, ...]]] = {
    "critic_updates": ("baseline", ("value",)),
    "critic_learning_rate": ("critic_updates", CRITIC_UPDATES[1:]),
    "critic_batch_size": ("critic_updates", CRITIC_UPDATES[1:]),
    "value_target_normalization": ("baseline", ("value",)),
}


#: The names sampled only for continuous (``Box``) actions: the Gaussian policy's initial log std
CONTINUOUS_ONLY: tuple[str, ...] = ("log_std_init",)


def is_sampled(name: str, params: dict[str, Any], continuous: bool | None = None) -> bool:
    """
    Whether :func:`sample_reinforce_params` samples ``name`` in a trial, given the values it sampled before it.

    :param name: one of :data:`SAMPLED_NAMES`
    :param params: the trial's values so far, by their stored names
    :param continuous: whether the env's actions are continuous (``Box``); None if not known (every name of
        :data:`CONTINUOUS_ONLY` may then be sampled)
    :return: True for the names sampled in every trial, for a name of :data:`CONTINUOUS_ONLY` unless the actions are
        not continuous, and for a name of :data:`SAMPLED_WHEN` whose parent took one of its values (its parent is then
        in ``params``)
    """
    if name in CONTINUOUS_ONLY:
        return continuous is not False
    if name not in SAMPLED_WHEN:
        return True
    parent, values = SAMPLED_WHEN[name]
    return parent in params and params[parent] in values


def convert_reinforce_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """
    Convert the parameters sampled by :func:`sample_reinforce_params` (as Optuna stores them in
    ``trial.params``) to keyword arguments of :class:`sb3_reinforce.REINFORCE`.

    It is registered as ``rl_zoo3.hyperparams_opt.HYPERPARAMS_CONVERTER["reinforce"]``, which the Zoo uses
    to load the hyperparameters of a stored trial (``train --storage ... --study-name ... --trial-id ...``).

    :param sampled_params: the sampled values, by their Optuna names
        (``one_minus_gamma``, ``n_steps_pow``, ``baseline``, ``net_arch``, ``activation_fn``, ...)
    :return: the hyperparameters, with ``gamma``, ``n_steps``, ``baseline`` and ``policy_kwargs`` decoded
    """
    hyperparams = dict(sampled_params)

    if "one_minus_gamma" in hyperparams:
        hyperparams["gamma"] = 1.0 - hyperparams.pop("one_minus_gamma")

    if "n_steps_pow" in hyperparams:
        hyperparams["n_steps"] = 2 ** int(hyperparams.pop("n_steps_pow"))

    if "baseline" in hyperparams and hyperparams["baseline"] in NO_BASELINE:
        hyperparams["baseline"] = None

    if "max_step_kl" in hyperparams and hyperparams["max_step_kl"] in NO_BASELINE:
        hyperparams["max_step_kl"] = None

    # The critic, with the value baseline only: fitted apart in critic_updates full-batch steps, or jointly (0, and when
    # not sampled); on standardized targets or not. All four arguments are set, so that none comes from the yml entry
    # or "auto". A stored critic value that does not apply (enqueued through Optuna's own enqueue_trial) is left unused.
    critic_updates = hyperparams.pop("critic_updates", 0)
    critic_learning_rate = hyperparams.pop("critic_learning_rate", None)
    critic_batch_size = hyperparams.pop("critic_batch_size", 0)
    if hyperparams.pop("value_clip_apart", False):
        raise ValueError(
            "value_clip_apart=True (a trial stored by sb3-reinforce 0.1.0): it set vf_max_grad_norm, which was removed "
            "after 0.1.0. This trial cannot be rebuilt; fit the critic apart instead (critic_updates >= 1)."
        )
    normalization = hyperparams.pop("value_target_normalization", False)
    if "baseline" in hyperparams:
        value = hyperparams["baseline"] == "value"
        apart = bool(value and critic_updates)
        hyperparams["n_critic_updates"] = int(critic_updates) if apart else None
        hyperparams["batch_size"] = int(critic_batch_size) if apart and critic_batch_size else None
        hyperparams["vf_learning_rate"] = critic_learning_rate if apart else None
        hyperparams["normalize_value_targets"] = bool(value and normalization)

    policy_kwargs: dict[str, Any] = {}
    if "net_arch" in hyperparams:
        net_arch = hyperparams.pop("net_arch")
        if net_arch not in NET_ARCHS:
            raise ValueError(f"Unknown net_arch {net_arch!r}, expected one of {sorted(NET_ARCHS)}.")
        # Copy: the lists would otherwise be shared between trials
        policy_kwargs["net_arch"] = {key: list(value) for key, value in NET_ARCHS[net_arch].items()}
    if "activation_fn" in hyperparams:
        activation_fn = hyperparams.pop("activation_fn")
        if activation_fn not in ACTIVATION_FNS:
            raise ValueError(f"Unknown activation_fn {activation_fn!r}, expected one of {sorted(ACTIVATION_FNS)}.")
        policy_kwargs["activation_fn"] = ACTIVATION_FNS[activation_fn]
    if "log_std_init" in hyperparams:
        policy_kwargs["log_std_init"] = hyperparams.pop("log_std_init")
    if policy_kwargs:
        hyperparams["policy_kwargs"] = policy_kwargs

    return hyperparams


def sample_reinforce_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """
    Sampler for REINFORCE hyperparameters, registered as ``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER["reinforce"]``.

    It samples, under the names of :data:`SAMPLED_NAMES`: the learning rate (log scale), the rollout length ``n_steps``
    (a power of 2, per env), the discount through ``one_minus_gamma`` (log scale), the baseline, advantage
    normalization, the entropy and value coefficients, gradient clipping, the bound on how far one update moves the
    policy (``max_step_kl``, ``"null"`` for none), the critic, the network (size and activation) and, for continuous
    actions (``n_actions > 0``), the Gaussian policy's initial log std (``log_std_init``, -4 to 1: exploration).

    The critic is sampled with ``baseline="value"`` only (:data:`SAMPLED_WHEN`): the other baselines do not use the
    value head, so their trials store no critic values and get the critic's arguments as None and False.
    ``critic_updates`` is 0 for the joint fit (the value loss, weighted by ``vf_coef``, added to the policy loss, its
    gradient clipped with the policy's by ``max_grad_norm``), or k for the value head fitted apart after the policy's
    step, in k passes of its own optimizer at ``critic_learning_rate`` (sampled only then), in full-batch steps
    (``critic_batch_size`` 0) or minibatches of 64, with its own clipping at ``max_grad_norm``.
    ``value_target_normalization`` is whether the head regresses standardized returns. The converter sets all the
    critic's arguments, so that none is left to the constructor's ``"auto"``, which fits the value head apart in one
    pass of minibatches of 64 steps at 2e-3, on standardized returns
    (:data:`sb3_reinforce.reinforce.checks.AUTO_CRITIC`): ``critic_updates`` 1 with ``critic_batch_size`` 64 and
    ``critic_learning_rate`` 2e-3 is that critic.

    ``vf_coef`` is sampled in every trial: it weights the value loss wherever the value head is fitted jointly, with
    ``critic_updates=0``, and with the other baselines when the entry sets ``bootstrap_truncated`` (the value head then
    bootstraps time limits; the sampler does not see the entry).
    ``vf_coef`` (1e-3 to 1) and ``max_grad_norm`` (0.3 to 100) reach further than in the Zoo's samplers: Monte Carlo
    returns can be in the thousands, and in the joint fit one clipping bounds the gradient of both losses
    (docs/reinforce.md, *The critic*).

    :param trial: the Optuna trial to sample from
    :param n_actions: the dimension of a continuous action space (0 otherwise): ``log_std_init`` is sampled when it
        is above 0
    :param n_envs: the number of parallel envs of the trial; unused, ``n_steps`` is per env
    :param additional_args: the Zoo's extra information (HER replay buffer settings); unused, REINFORCE is
        on-policy
    :return: keyword arguments for :class:`sb3_reinforce.REINFORCE`
    """
    params: dict[str, Any] = {}
    params["learning_rate"] = trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True)
    # From 2**4 = 16 to 2**11 = 2048 steps per env and per rollout
    params["n_steps_pow"] = trial.suggest_int("n_steps_pow", 4, 11)
    # gamma from 0.9 (the Zoo's usual value for Pendulum) to 0.9999
    params["one_minus_gamma"] = trial.suggest_float("one_minus_gamma", 0.0001, 0.1, log=True)
    params["baseline"] = trial.suggest_categorical("baseline", BASELINE_CHOICES)
    params["normalize_advantage"] = trial.suggest_categorical("normalize_advantage", [True, False])
    params["ent_coef"] = trial.suggest_float("ent_coef", 1e-8, 0.1, log=True)
    params["vf_coef"] = trial.suggest_float("vf_coef", 1e-3, 1.0, log=True)
    params["max_grad_norm"] = trial.suggest_float("max_grad_norm", 0.3, 100.0, log=True)
    params["max_step_kl"] = trial.suggest_categorical("max_step_kl", STEP_KL_CHOICES)
    # The critic, with the value baseline only (SAMPLED_WHEN): fitted jointly (0) or apart, with its own learning rate
    if is_sampled("critic_updates", params):
        params["critic_updates"] = trial.suggest_categorical("critic_updates", CRITIC_UPDATES)
    if is_sampled("critic_learning_rate", params):
        params["critic_learning_rate"] = trial.suggest_float("critic_learning_rate", 1e-4, 1e-2, log=True)
    if is_sampled("critic_batch_size", params):
        params["critic_batch_size"] = trial.suggest_categorical("critic_batch_size", CRITIC_BATCH_SIZES)
    if is_sampled("value_target_normalization", params):
        params["value_target_normalization"] = trial.suggest_categorical("value_target_normalization", [False, True])
    params["net_arch"] = trial.suggest_categorical("net_arch", list(NET_ARCHS))
    params["activation_fn"] = trial.suggest_categorical("activation_fn", list(ACTIVATION_FNS))
    if is_sampled("log_std_init", params, continuous=n_actions > 0):
        params["log_std_init"] = trial.suggest_float("log_std_init", -4.0, 1.0)

    hyperparams = convert_reinforce_params(params)
    # The Zoo prints the user attributes below the params: these give, as the yml file takes them, the hyperparameters
    # whose sampled names are not REINFORCE arguments (one_minus_gamma, n_steps_pow, net_arch, activation_fn, critic_*)
    trial.set_user_attr("gamma", hyperparams["gamma"])
    trial.set_user_attr("n_steps", hyperparams["n_steps"])
    trial.set_user_attr(
        "policy_kwargs", policy_kwargs_string(params["net_arch"], params["activation_fn"], params.get("log_std_init"))
    )
    # All four critic arguments, so that a pasted entry does not fall to "auto"; None as "null", which YAML reads back
    for name in ("n_critic_updates", "batch_size", "vf_learning_rate", "normalize_value_targets"):
        trial.set_user_attr(name, "null" if hyperparams[name] is None else hyperparams[name])
    return hyperparams


def policy_kwargs_string(net_arch: str, activation_fn: str, log_std_init: float | None = None) -> str:
    """
    The ``policy_kwargs`` of a sampled ``net_arch``, ``activation_fn`` and ``log_std_init``, as the Zoo's yml files
    write them.

    :param net_arch: a key of :data:`NET_ARCHS`
    :param activation_fn: a key of :data:`ACTIVATION_FNS`
    :param log_std_init: the initial log std of a Gaussian policy, or None where it is not sampled
    :return: e.g. ``"dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=nn.Tanh)"``
    """
    sizes = NET_ARCHS[net_arch]
    std = "" if log_std_init is None else f", log_std_init={log_std_init!r}"
    return (
        f"dict(net_arch=dict(pi={sizes['pi']}, vf={sizes['vf']}), activation_fn=nn.{ACTIVATION_FNS[activation_fn].__name__}"
        f"{std})"
    )
