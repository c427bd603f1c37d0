"""
Train REINFORCE, A2C and PPO with the RL Zoo on a list of envs and seeds, with one budget and one evaluation
protocol per env. Resumable: a run with a ``done.json`` (in ``runs/`` or in the committed ``data/``) is skipped,
an unfinished one is started again.

Usage (the full benchmark of ``benchmarks/RESULTS.md``; at most 2 runs at a time)::

    python benchmarks/run_benchmarks.py --jobs 2
    python benchmarks/run_benchmarks.py --envs CartPole-v1 --seeds 0 1 2 --jobs 2   # a subset

Each run is ``python -m sb3_reinforce.zoo train --algo ALGO --env ENV -n BUDGET --seed SEED
--eval-freq FREQ --eval-episodes 10 --n-eval-envs 1 --num-threads 1 -f benchmarks/runs/ENV/ALGO/seedSEED``:
A2C and PPO use the Zoo's tuned hyperparameters, REINFORCE ours (``sb3_reinforce/hyperparams/reinforce.yml``);
the Zoo's ``EvalCallback`` evaluates deterministically (not on Atari). The Zoo has A2C and PPO entries for
HalfCheetah-v4 and Hopper-v4 only: the v5 runs use them unchanged (``-conf data/ENV/ALGO/zoo_hyperparams.yml``).
The budget ``-n`` overrides each file's ``n_timesteps`` so that all three algorithms get the same number of steps.
Raw logs go to ``benchmarks/runs/`` (not committed); ``collect`` copies the small per-seed files that the results
need into ``benchmarks/data/`` (committed).
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RUNS_DIR = BENCH_DIR / "runs"
DATA_DIR = BENCH_DIR / "data"

# env id: (steps per run, number of seeds, evaluation frequency in steps, success threshold or None)
SCOPE: dict[str, tuple[int, int, int, float | None]] = {
    "CartPole-v1": (100_000, 10, 5_000, 475.0),
    "Acrobot-v1": (500_000, 5, 10_000, -100.0),
    "LunarLander-v3": (1_000_000, 5, 25_000, 200.0),
    "Pendulum-v1": (1_000_000, 5, 25_000, -200.0),
    "HalfCheetah-v5": (1_000_000, 3, 25_000, None),
    "Hopper-v5": (1_000_000, 3, 25_000, None),
}
ALGOS = ("reinforce", "a2c", "ppo")
# RL Zoo 2.9.2's a2c.yml and ppo.yml have entries for the MuJoCo v4 envs only: A2C and PPO get the v4 entry, unchanged,
# under the v5 name (through -conf; see zoo_conf)
ZOO_ENTRY_ALIASES = {"HalfCheetah-v5": "HalfCheetah-v4", "Hopper-v5": "Hopper-v4"}


def system_info() -> dict[str, str]:
    """Versions and hardware, recorded next to the results."""
    import gymnasium
    import rl_zoo3
    import stable_baselines3
    import torch

    import sb3_reinforce

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "sb3_reinforce": sb3_reinforce.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "rl_zoo3": rl_zoo3.__version__,
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "python": platform.python_version(),
        "cpu": f"{cpu} ({os.cpu_count()} cores)",
        "os": platform.platform(),
    }


def git_commit() -> str:
    """The code a run was made with: the commit, with "+dirty" if the working tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=BENCH_DIR, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def run_dir(env: str, algo: str, seed: int) -> Path:
    return RUNS_DIR / env / algo / f"seed{seed}"


def zoo_conf(env: str, algo: str) -> Path | None:
    """
    For A2C and PPO on an env of ``ZOO_ENTRY_ALIASES``: write the Zoo's entry of the aliased env, under this env's
    name, to ``data/ENV/ALGO/zoo_hyperparams.yml`` (committed) and return its path. None otherwise.
    """
    if algo == "reinforce" or env not in ZOO_ENTRY_ALIASES:
        return None
    import rl_zoo3
    import yaml

    with open(Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml") as file:
        entries = yaml.safe_load(file)  # resolves the file's YAML anchors (<<: *mujoco-defaults)
    path = DATA_DIR / env / algo / "zoo_hyperparams.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# RL Zoo {rl_zoo3.__version__} {algo}.yml entry {ZOO_ENTRY_ALIASES[env]}, unchanged, under the name {env}\n"
    path.write_text(header + yaml.safe_dump({env: entries[ZOO_ENTRY_ALIASES[env]]}))
    return path


def command(env: str, algo: str, seed: int) -> list[str]:
    budget, _, eval_freq, _ = SCOPE[env]
    conf = zoo_conf(env, algo)
    return [
        sys.executable, "-m", "sb3_reinforce.zoo", "train",
        "--algo", algo, "--env", env, "-n", str(budget), "--seed", str(seed),
        "--eval-freq", str(eval_freq), "--eval-episodes", "10", "--n-eval-envs", "1",
        "--num-threads", "1", "-f", str(run_dir(env, algo, seed)),
    ] + (["-conf", str(conf)] if conf is not None else [])  # fmt: skip


def run_one(env: str, algo: str, seed: int) -> str:
    folder = run_dir(env, algo, seed)
    # done here, or on another machine (the collected data is committed)
    if (folder / "done.json").exists() or (DATA_DIR / env / algo / f"seed{seed}" / "done.json").exists():
        return f"skip {env} {algo} {seed} (done)"
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted run starts again
    folder.mkdir(parents=True)
    cmd = command(env, algo, seed)
    start = time.time()
    with open(folder / "train.log", "w") as log:
        process = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.time() - start
    if process.returncode != 0:
        return f"FAIL {env} {algo} {seed} (exit {process.returncode}, see {folder / 'train.log'})"
    budget = SCOPE[env][0]
    done = {
        "command": " ".join(cmd[1:]),
        "git_commit": git_commit(),
        "wall_clock_s": round(wall, 1),
        "steps": budget,
        "steps_per_s": round(budget / wall),
    }
    (folder / "done.json").write_text(json.dumps(done, indent=2))
    collect_one(env, algo, seed)
    return f"done {env} {algo} {seed} in {wall:.0f}s"


def collect_one(env: str, algo: str, seed: int) -> None:
    """Copy the small files the results need: evaluations.npz, done.json, and the training monitor (for time)."""
    source = run_dir(env, algo, seed)
    target = DATA_DIR / env / algo / f"seed{seed}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "done.json", target / "done.json")
    evaluations = sorted(source.glob(f"{algo}/{env}_*/evaluations.npz"))
    if evaluations:
        shutil.copy(evaluations[-1], target / "evaluations.npz")
    # wall-clock time of each finished training episode, from the Monitor files of all training envs
    rows = []
    for monitor in sorted(source.glob(f"{algo}/{env}_*/*.monitor.csv")):
        lines = monitor.read_text().splitlines()[2:]
        rows += [tuple(float(x) for x in line.split(",")[1:3]) for line in lines if line]
    rows.sort(key=lambda row: row[1])
    with open(target / "time.csv", "w") as file:
        file.write("steps,time_s\n")
        # thin out to at most ~400 points, keeping cumulative steps exact
        steps, kept = 0, []
        every = max(1, len(rows) // 400)
        for i, (length, wall) in enumerate(rows):
            steps += int(length)
            if i % every == 0 or i == len(rows) - 1:
                kept.append(f"{steps},{wall:.2f}")
        file.write("\n".join(kept) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(SCOPE), choices=list(SCOPE))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the env's number of seeds")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (at most 2 on these machines)")
    args = parser.parse_args()

    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / "system.json").write_text(json.dumps(system_info(), indent=2))
    runs = [
        (env, algo, seed)
        for env in args.envs
        for seed in (args.seeds if args.seeds is not None else range(SCOPE[env][1]))
        for algo in args.algos
    ]
    with ThreadPoolExecutor(max_workers=min(args.jobs, 2)) as pool:
        for message in pool.map(lambda run: run_one(*run), runs):
            print(message, flush=True)


if __name__ == "__main__":
    main()
