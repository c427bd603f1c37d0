"""
Throughput of REINFORCE's ``learn()`` against SB3's A2C, and against SB3's rollout-only ceiling, in one run.

Usage::

    python benchmarks/throughput.py --n-envs 8 --n-steps 64 --timesteps 50000 --repeats 3

All four variants run on CartPole-v1 with MlpPolicy, the same ``n_envs`` and ``n_steps``, one torch thread,
interleaved ``--repeats`` times; the median steps/s of each is reported with its ratio:

- ``a2c``: SB3's A2C ``learn()``;
- ``ceiling``: SB3's A2C with ``train()`` disabled: SB3's own rollout loop alone (the rollout-only ceiling);
- ``reinforce``: REINFORCE ``learn()`` with the given ``--baseline``;
- ``reinforce_rollout``: REINFORCE with ``train()`` disabled (its rollout loop alone).
"""

import argparse
import json
import platform
import statistics
import time

import gymnasium
import stable_baselines3
import torch as th
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env

import sb3_reinforce
from sb3_reinforce import REINFORCE


class A2CRolloutOnly(A2C):
    def train(self) -> None:
        pass


class REINFORCERolloutOnly(REINFORCE):
    def train(self) -> None:
        pass


def run(variant: str, args: argparse.Namespace, seed: int) -> float:
    env = make_vec_env("CartPole-v1", n_envs=args.n_envs, seed=seed)
    common = dict(n_steps=args.n_steps, seed=seed, device="cpu")
    model: A2C | REINFORCE
    if variant in ("a2c", "ceiling"):
        a2c_cls = A2C if variant == "a2c" else A2CRolloutOnly
        model = a2c_cls("MlpPolicy", env, **common)
    else:
        reinforce_cls = REINFORCE if variant == "reinforce" else REINFORCERolloutOnly
        model = reinforce_cls("MlpPolicy", env, baseline=args.baseline, **common)
    start = time.perf_counter()
    model.learn(args.timesteps)
    elapsed = time.perf_counter() - start
    env.close()
    return model.num_timesteps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--n-steps", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="value", help="REINFORCE baseline ('none' for None)")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if args.baseline == "none":
        args.baseline = None
    th.set_num_threads(1)

    variants = ["a2c", "ceiling", "reinforce", "reinforce_rollout"]
    fps: dict[str, list[float]] = {variant: [] for variant in variants}
    for repeat in range(args.repeats):
        for variant in variants:
            fps[variant].append(run(variant, args, seed=repeat))
    median = {variant: statistics.median(values) for variant, values in fps.items()}
    result = {
        "command": "python benchmarks/throughput.py "
        + f"--n-envs {args.n_envs} --n-steps {args.n_steps} --timesteps {args.timesteps} "
        + f"--repeats {args.repeats} --baseline {args.baseline or 'none'}",
        "versions": {
            "sb3_reinforce": sb3_reinforce.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "torch": th.__version__,
            "gymnasium": gymnasium.__version__,
            "python": platform.python_version(),
        },
        "hardware": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "median_steps_per_s": {variant: round(value) for variant, value in median.items()},
        "all_steps_per_s": {variant: [round(v) for v in values] for variant, values in fps.items()},
        "reinforce_over_a2c": round(median["reinforce"] / median["a2c"], 3),
        "reinforce_over_ceiling": round(median["reinforce"] / median["ceiling"], 3),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
