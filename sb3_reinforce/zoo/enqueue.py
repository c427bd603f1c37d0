"""
``python -m sb3_reinforce.zoo.enqueue``: put hand-chosen starting points into an Optuna study before the RL Zoo's
``-optimize`` runs it.

The Zoo creates its study with ``load_if_exists=True``, so a study created here (same storage and name) is
picked up, and Optuna runs the enqueued trials first; the TPE sampler then models them with the rest.
The parameters use the names that :func:`sb3_reinforce.zoo.hyperparams_opt.sample_reinforce_params` stores
(:data:`sb3_reinforce.zoo.hyperparams_opt.SAMPLED_NAMES`: ``n_steps_pow``, ``one_minus_gamma``, ...), so the Params of
a trial the Zoo reported can be enqueued whole. Parameters left out of a trial are sampled as usual. The critic's
parameters are sampled with ``baseline="value"`` only, so a trial that gives one of them must give that baseline
(and ``critic_learning_rate`` a ``critic_updates`` above 0): Optuna would otherwise drop them without a word.

Example::

    python -m sb3_reinforce.zoo.enqueue --storage sqlite:///study.db --study-name reinforce-LunarLander-v3 \
        --trial '{"learning_rate": 0.0005, "n_steps_pow": 9}' --trial '{"learning_rate": 0.002, "baseline": null}'
    sb3-reinforce-zoo train --algo reinforce --env LunarLander-v3 -optimize --storage sqlite:///study.db \
        --study-name reinforce-LunarLander-v3 ...
"""

import argparse
import json
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend

from sb3_reinforce.zoo.cli import storage_url
from sb3_reinforce.zoo.hyperparams_opt import (
    BASELINE_CHOICES,
    NO_BASELINE,
    SAMPLED_NAMES,
    SAMPLED_WHEN,
    STEP_KL_CHOICES,
    is_sampled,
)


def trial_params(text: str) -> dict[str, Any]:
    """
    The parameters of one ``--trial``, checked, as the sampler stores them.

    :param text: a JSON object of sampled parameters; ``"baseline"`` may be ``null``, ``"none"`` or ``"null"``
    :return: the parameters to enqueue
    """
    params = json.loads(text)
    if not isinstance(params, dict):
        raise ValueError(f"--trial must be a JSON object of parameters, got {text!r}.")
    unknown = [name for name in params if name not in SAMPLED_NAMES]
    if unknown:
        raise ValueError(f"--trial has unknown parameters {unknown}; the sampled names are {list(SAMPLED_NAMES)}.")
    if "baseline" in params:
        if params["baseline"] in NO_BASELINE:
            params["baseline"] = BASELINE_CHOICES[0]  # what the sampler stores for baseline=None
        elif params["baseline"] not in BASELINE_CHOICES:
            choices = ["null", *BASELINE_CHOICES[1:]]
            raise ValueError(f"--trial: baseline must be one of {choices}, got {params['baseline']!r}.")
    if "max_step_kl" in params and params["max_step_kl"] in NO_BASELINE:
        params["max_step_kl"] = STEP_KL_CHOICES[0]  # what the sampler stores for max_step_kl=None
    elif "max_step_kl" in params and params["max_step_kl"] not in STEP_KL_CHOICES:
        bounds = ["null", *STEP_KL_CHOICES[1:]]
        raise ValueError(f"--trial: max_step_kl must be one of {bounds}, got {params['max_step_kl']!r}.")
    for name in params:
        if not is_sampled(name, params):
            parent, values = SAMPLED_WHEN[name]
            got = f"it has {parent}={params[parent]!r}" if parent in params else f"it does not give {parent}"
            raise ValueError(
                f"--trial: {name} is sampled only when {parent} is one of {list(values)}, and {got}, so Optuna would "
                f"ignore it. Add {parent} with one of those values to the trial, or remove {name}."
            )
    return params


def main(argv: list[str] | None = None) -> None:
    """
    Enqueue the trials given on the command line.

    :param argv: the arguments (default: ``sys.argv[1:]``)
    """
    parser = argparse.ArgumentParser(
        prog="python -m sb3_reinforce.zoo.enqueue", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--storage", required=True, help="the Zoo's --storage: a database URL (sqlite:///study.db), or a journal file (.log)"
    )
    parser.add_argument("--study-name", required=True, help="the name the Zoo's --study-name will use")
    parser.add_argument(
        "--trial", action="append", required=True, help="a JSON object of sampled parameters (repeat for more)"
    )
    args = parser.parse_args(argv)

    # Every trial is checked before the study is touched
    trials = [trial_params(text) for text in args.trial]
    storage: str | optuna.storages.BaseStorage = storage_url(args.storage)
    if args.storage.endswith(".log"):  # as the Zoo reads --storage
        storage = optuna.storages.JournalStorage(JournalFileBackend(args.storage))
    study = optuna.create_study(storage=storage, study_name=args.study_name, load_if_exists=True, direction="maximize")
    for params in trials:
        study.enqueue_trial(params)
        print(f"Enqueued in {args.study_name}: {params}")


if __name__ == "__main__":
    main()
