"""
Put hand-chosen starting points into an Optuna study before the RL Zoo's ``-optimize`` runs it.

The Zoo creates its study with ``load_if_exists=True``, so a study created here (same storage and name) is
picked up, and Optuna runs the enqueued trials first; the TPE sampler then models them with the rest.
The parameters use the names that :func:`sb3_reinforce.zoo.hyperparams_opt.sample_reinforce_params` stores
(``n_steps_pow``, ``one_minus_gamma``, ...). Parameters left out of a trial are sampled as usual.

Example::

    python benchmarks/enqueue_trials.py --storage sqlite:///benchmarks/runs/optuna/ll.db \
        --study-name reinforce-LunarLander-v3 \
        --trial '{"learning_rate": 0.0005, "n_steps_pow": 9}' --trial '{"learning_rate": 0.002}'
    sb3-reinforce-zoo train --algo reinforce --env LunarLander-v3 -optimize --storage sqlite:///... \
        --study-name reinforce-LunarLander-v3 ...
"""

import argparse
import json

import optuna

#: The names sample_reinforce_params stores; Optuna would silently ignore any other name in an enqueued trial
SAMPLED_NAMES = {
    "learning_rate",
    "n_steps_pow",
    "one_minus_gamma",
    "baseline",
    "normalize_advantage",
    "ent_coef",
    "vf_coef",
    "max_grad_norm",
    "net_arch",
    "activation_fn",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", required=True, help="Optuna storage URL, e.g. sqlite:///study.db")
    parser.add_argument("--study-name", required=True, help="the name the Zoo's --study-name will use")
    parser.add_argument(
        "--trial", action="append", required=True, help="a JSON object of sampled parameters (repeat for more)"
    )
    args = parser.parse_args()

    study = optuna.create_study(storage=args.storage, study_name=args.study_name, load_if_exists=True, direction="maximize")
    for text in args.trial:
        params = json.loads(text)
        if not isinstance(params, dict):
            raise ValueError(f"--trial must be a JSON object of parameters, got {text!r}.")
        unknown = set(params) - SAMPLED_NAMES
        if unknown:
            raise ValueError(
                f"--trial has unknown parameters {sorted(unknown)}; the sampled names are {sorted(SAMPLED_NAMES)}."
            )
        study.enqueue_trial(params)
        print(f"Enqueued in {args.study_name}: {params}")


if __name__ == "__main__":
    main()
