"""
Throughput of REINFORCE's ``learn()`` against SB3's A2C with the same ``n_envs`` and ``n_steps``, one torch thread;
and the time to CartPole-v1's target of REINFORCE, A2C and PPO, side by side.

Usage::

    python benchmarks/throughput.py cartpole --repeats 10 --output benchmarks/throughput.json
    python benchmarks/throughput.py episodes --output benchmarks/throughput_episodes.json
    python benchmarks/throughput.py time-to-target

``cartpole``: CartPole-v1, MlpPolicy, seven variants interleaved ``--repeats`` times in one process: ``a2c`` (SB3's
A2C), ``ceiling`` (A2C with ``train()`` disabled: SB3's rollout loop alone), ``reinforce`` (the value baseline with
the default critic, fitted apart: ``n_critic_updates`` passes of its own), ``reinforce_joint`` (the value head fitted
jointly with the policy, in one gradient step per update as A2C fits its own), ``reinforce_5passes`` (the former
default critic: 5 passes of minibatches of 64 at 1e-3), ``reinforce_step_kl`` (``reinforce`` with ``max_step_kl=0.002``:
one more forward pass over the batch per update, and one per halving) and ``reinforce_rollout`` (REINFORCE with
``train()`` disabled). It reports each variant's median steps/s with its range, and the ratios of each REINFORCE
variant that trains (``TRAINING_VARIANTS``) to A2C, repeat by repeat (paired), each with its median and a 95%
bootstrap interval.

``episodes``: an env whose episodes last exactly L steps (constant reward, ``Box(4,)`` observations,
``Discrete(2)`` actions), for every L, ``n_steps`` and ``n_envs`` asked. REINFORCE and A2C each run
``learn(max(--timesteps, n_envs * (L + n_steps)))``, so that every episode ends at least once, one after the other,
each in a fresh process (for its own peak RSS). Then an env that never ends: the seconds REINFORCE takes to reach its
``max_episode_steps`` error (default bound 100,000, ``n_steps=16``), against A2C's seconds for as many steps.

``time-to-target``: env steps and wall-clock seconds until CartPole-v1 is solved, of REINFORCE, A2C and PPO side
by side; ``time_to_target.py`` runs it (its docstring, or ``python benchmarks/throughput.py time-to-target --help``,
says how).
"""

import argparse
import json
import statistics
import time

import numpy as np
import time_to_target
import torch as th
from common import SCOPE, FixedLengthEnv, dirty_files, git_commit, run_isolated, system_info
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env
from time_to_target import TARGET_ALGOS, TARGET_ENV

from sb3_reinforce import REINFORCE


class A2CRolloutOnly(A2C):
    def train(self) -> None:
        pass


class REINFORCERolloutOnly(REINFORCE):
    def train(self) -> None:
        pass


VARIANTS = {
    "a2c": A2C,
    "ceiling": A2CRolloutOnly,
    "reinforce": REINFORCE,
    "reinforce_joint": REINFORCE,
    "reinforce_5passes": REINFORCE,
    "reinforce_step_kl": REINFORCE,
    "reinforce_rollout": REINFORCERolloutOnly,
}
#: The REINFORCE variants that train, each compared with A2C
TRAINING_VARIANTS = ("reinforce", "reinforce_joint", "reinforce_5passes", "reinforce_step_kl")
#: REINFORCE's arguments by variant (A2C's: none)
KWARGS: dict[str, dict] = {
    "reinforce": dict(baseline="value"),
    "reinforce_joint": dict(baseline="value", n_critic_updates=None),
    "reinforce_5passes": dict(baseline="value", n_critic_updates=5, vf_learning_rate=1e-3),
    "reinforce_step_kl": dict(baseline="value", max_step_kl=0.002),
    "reinforce_rollout": dict(baseline="value"),
}


def steps_per_second(algo: str, env_id: str | None, length: int | None, n_envs: int, n_steps: int, steps: int) -> float:
    """Train ``algo`` for ``steps`` steps; its steps/s (``env_id`` None: the fixed-length env)."""
    th.set_num_threads(1)
    env = make_vec_env(env_id or (lambda: FixedLengthEnv(length)), n_envs=n_envs, seed=0)
    kwargs = KWARGS.get(algo, {})
    model = VARIANTS[algo]("MlpPolicy", env, n_steps=n_steps, seed=0, device="cpu", **kwargs)
    start = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - start)


def seconds_to_bound(algo: str, steps: int) -> float:
    """Seconds until REINFORCE's ``max_episode_steps`` error on a never-ending env (A2C: to train as many steps)."""
    th.set_num_threads(1)
    model = VARIANTS[algo]("MlpPolicy", make_vec_env(lambda: FixedLengthEnv(None), seed=0), n_steps=16, seed=0, device="cpu")
    start = time.perf_counter()
    try:
        model.learn(steps)
    except RuntimeError as error:
        assert "max_episode_steps" in str(error)
    return time.perf_counter() - start


def bootstrap_median(values: list[float], seed: int = 0, n: int = 10_000) -> list[float]:
    """95% percentile-bootstrap interval of the median."""
    draws = np.random.default_rng(seed).choice(values, size=(n, len(values)))
    return [round(float(q), 3) for q in np.percentile(np.median(draws, axis=1), [2.5, 97.5])]


def cartpole(args: argparse.Namespace) -> dict:
    th.set_num_threads(1)
    fps: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.repeats):
        for variant in VARIANTS:
            fps[variant].append(steps_per_second(variant, "CartPole-v1", None, args.n_envs, args.n_steps, args.timesteps))
    ratios = {variant: [r / a for r, a in zip(fps[variant], fps["a2c"], strict=True)] for variant in TRAINING_VARIANTS}
    return {
        "command": f"python benchmarks/throughput.py cartpole --n-envs {args.n_envs} --n-steps {args.n_steps} "
        f"--timesteps {args.timesteps} --repeats {args.repeats}",
        "steps_per_s": {
            variant: {"median": round(statistics.median(v)), "min": round(min(v)), "max": round(max(v))}
            for variant, v in fps.items()
        },
        "all_steps_per_s": {variant: [round(v) for v in values] for variant, values in fps.items()},
        **{
            f"{variant}_over_a2c": {"median": round(statistics.median(values), 3), "ci95": bootstrap_median(values)}
            for variant, values in ratios.items()
        },
    }


def episodes(args: argparse.Namespace) -> dict:
    rows = []
    for n_envs in args.n_envs_list:
        for n_steps in args.n_steps_list:
            for length in args.lengths:
                steps = max(args.timesteps, n_envs * (length + n_steps))
                row = {"L": length, "n_steps": n_steps, "n_envs": n_envs, "timesteps": steps}
                for algo in ("reinforce", "a2c"):
                    fps, rss = run_isolated(steps_per_second, algo, None, length, n_envs, n_steps, steps)
                    row[f"{algo}_steps_per_s"], row[f"{algo}_peak_rss_mib"] = round(fps), round(rss)
                row["reinforce_over_a2c"] = round(row["reinforce_steps_per_s"] / row["a2c_steps_per_s"], 3)
                print(row, flush=True)
                rows.append(row)
    bound = REINFORCE("MlpPolicy", make_vec_env(lambda: FixedLengthEnv(None))).rollout_buffer.max_episode_steps
    never_ending = {algo: round(run_isolated(seconds_to_bound, algo, bound + 1)[0], 1) for algo in ("reinforce", "a2c")}
    return {
        "command": "python benchmarks/throughput.py episodes --lengths "
        + " ".join(map(str, args.lengths))
        + f" --n-steps-list {' '.join(map(str, args.n_steps_list))} --n-envs-list {' '.join(map(str, args.n_envs_list))}"
        f" --timesteps {args.timesteps}",
        "runs": rows,
        "min_reinforce_over_a2c": min(row["reinforce_over_a2c"] for row in rows),
        "never_ending_env_seconds": {
            "bound": bound,
            "reinforce_to_error": never_ending["reinforce"],
            "a2c_same_steps": never_ending["a2c"],
        },
    }


def make_parser() -> argparse.ArgumentParser:
    """The command line of the three benchmarks (``cartpole``, ``episodes``, ``time-to-target``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="benchmark", required=True)
    cart = sub.add_parser("cartpole")
    cart.add_argument("--n-envs", type=int, default=8)
    cart.add_argument("--n-steps", type=int, default=64)
    cart.add_argument("--timesteps", type=int, default=50_000)
    cart.add_argument("--repeats", type=int, default=10)
    long = sub.add_parser("episodes")
    long.add_argument("--lengths", type=int, nargs="+", default=[1_000, 2_000, 8_000, 32_000, 100_000])
    long.add_argument("--n-steps-list", type=int, nargs="+", default=[16, 512])
    long.add_argument("--n-envs-list", type=int, nargs="+", default=[1, 8])
    long.add_argument("--timesteps", type=int, default=32_000)
    for command in (cart, long):
        command.add_argument("--output", default=None, help="write the results as JSON here")
    spec = SCOPE[TARGET_ENV]
    target = sub.add_parser(
        "time-to-target", description=time_to_target.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    target.add_argument("--n-envs-list", type=int, nargs="+", default=[1, 8])
    target.add_argument("--algos", nargs="+", choices=list(TARGET_ALGOS), default=list(TARGET_ALGOS))
    target.add_argument("--target", type=float, default=spec.target)
    target.add_argument("--eval-freq", type=int, default=spec.eval_freq)
    target.add_argument("--max-steps", type=int, default=spec.budget)
    target.add_argument("--eval-episodes", type=int, default=10)
    target.add_argument("--allow-dirty", action="store_true", help="measure from a dirty tree (the file records it)")
    target.add_argument("--output", default=None, help="the results file (default: benchmarks/time_to_target.json)")
    return parser


def main() -> None:
    args = make_parser().parse_args()
    if args.benchmark == "time-to-target":
        print(json.dumps(time_to_target.measure(args)["summary"], indent=2))
        return
    result = cartpole(args) if args.benchmark == "cartpole" else episodes(args)
    result = {"commit": git_commit(), "dirty_files": dirty_files(), "system": system_info(), **result}
    print(json.dumps({key: value for key, value in result.items() if key != "all_steps_per_s"}, indent=2))
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
