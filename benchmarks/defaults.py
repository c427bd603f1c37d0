"""
Do REINFORCE's constructor defaults learn without tuning, at any number of envs?

Usage::

    python benchmarks/defaults.py --output benchmarks/defaults.json
    python benchmarks/defaults.py --kwargs '{"n_critic_updates": 20}' --output /tmp/candidate.json --seeds 100 101 102

For each env, ``n_envs`` and seed: ``REINFORCE("MlpPolicy", make_vec_env(env, n_envs=N, seed=S), seed=S,
**kwargs).learn(budget)``, as a new user would write it, then the mean of 20 deterministic episodes on an eval env
(seed ``10_000 + S``). It reports, per ``n_envs``, the median against the target (``SCOPE`` in ``common.py``) and
how many seeds reached it (``at_target``). The output is written after every run, and runs already in it are
skipped (resumable). Choose candidates on seeds that the benchmark does not report (100 and up); the default seeds
0-9 are for reporting.
"""

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch as th
from common import SCOPE, dirty_files, git_commit, system_info
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE


def train_and_evaluate(env_id: str, n_envs: int, seed: int, kwargs: dict[str, Any], budget: int) -> float:
    """The deterministic mean return over 20 episodes after training with the defaults (and ``kwargs``)."""
    th.set_num_threads(1)
    model = REINFORCE("MlpPolicy", make_vec_env(env_id, n_envs=n_envs, seed=seed), seed=seed, device="cpu", **kwargs)
    model.learn(budget)
    mean, _ = evaluate_policy(model, make_vec_env(env_id, n_envs=1, seed=10_000 + seed), n_eval_episodes=20)
    return float(mean)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1"], choices=list(SCOPE))
    parser.add_argument("--n-envs", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--kwargs", default="{}", help="REINFORCE arguments changed from the defaults, as JSON")
    parser.add_argument("--budget", type=int, default=None, help="steps per run (default: the env's budget in SCOPE)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    kwargs = json.loads(args.kwargs)
    output = Path(args.output)
    result = json.loads(output.read_text()) if output.exists() else {"runs": []}
    if result.get("kwargs", kwargs) != kwargs:
        raise SystemExit(f"{output} holds runs with kwargs {result['kwargs']}, not {kwargs}: choose another --output.")
    if result.get("commit", git_commit()) != git_commit():
        # The defaults are what is measured: runs of another commit may have measured other defaults
        raise SystemExit(f"{output} holds runs of commit {result['commit']}, not {git_commit()}: choose another --output.")
    result.update(commit=git_commit(), dirty_files=dirty_files(), system=system_info(), kwargs=kwargs)
    result["command"] = "python benchmarks/defaults.py " + " ".join(
        [f"--envs {' '.join(args.envs)}", f"--n-envs {' '.join(map(str, args.n_envs))}"]
        + [f"--seeds {' '.join(map(str, args.seeds))}", f"--kwargs '{args.kwargs}'", f"--output {args.output}"]
        + ([f"--budget {args.budget}"] if args.budget else [])
    )
    done = {(run["env"], run["n_envs"], run["seed"]) for run in result["runs"]}
    todo = [(env, n, seed) for env in args.envs for n in args.n_envs for seed in args.seeds if (env, n, seed) not in done]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            pool.submit(train_and_evaluate, env, n, seed, kwargs, args.budget or SCOPE[env].budget): (env, n, seed)
            for env, n, seed in todo
        }
        for future, (env, n, seed) in futures.items():
            result["runs"].append({"env": env, "n_envs": n, "seed": seed, "mean_return": round(future.result(), 1)})
            print(result["runs"][-1], flush=True)
            output.write_text(json.dumps(result, indent=2))
    summary = {}
    for env in args.envs:
        for n in args.n_envs:
            scores = [run["mean_return"] for run in result["runs"] if run["env"] == env and run["n_envs"] == n]
            if scores:
                median, target = statistics.median(scores), SCOPE[env].target
                at_target = sum(score >= target for score in scores)
                summary[f"{env} n_envs={n}"] = {
                    "median": median,
                    "met": median >= target,
                    "at_target": f"{at_target}/{len(scores)}",
                    "scores": scores,
                }
    result["median_per_n_envs"] = summary
    output.write_text(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
