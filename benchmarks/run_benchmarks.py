"""
Train REINFORCE, A2C and PPO with the RL Zoo on a list of envs and seeds, with one budget and one evaluation
protocol per env. Resumable: a run with a ``done.json`` (in ``runs/`` or in the committed ``data/``) is skipped,
an unfinished one is started again.

Usage (the full benchmark of ``benchmarks/RESULTS.md``; at most 2 runs at a time)::

    python benchmarks/run_benchmarks.py --jobs 2
    python benchmarks/run_benchmarks.py --envs CartPole-v1 --seeds 0 1 2 --jobs 2   # a subset
    python benchmarks/run_benchmarks.py --algos a2c ppo --rerun-flagged --jobs 2   # replace the flagged runs

Each run is ``python -m sb3_reinforce.zoo train --algo ALGO --env ENV -n BUDGET --seed SEED
--eval-freq FREQ --eval-episodes 10 --n-eval-envs 1 --num-threads 1 -f benchmarks/runs/ENV/ALGO/seedSEED``, with
``--log-interval 1`` for REINFORCE, so that its ``train/explained_variance`` is read from every update's log table.
A2C and PPO use the Zoo's own hyperparameter files, REINFORCE ours (``sb3_reinforce/hyperparams/reinforce.yml``);
the Zoo's ``EvalCallback`` evaluates deterministically (not on Atari). The Zoo has A2C and PPO entries for
the MuJoCo v4 envs only: the v5 runs use them unchanged (``-conf data/ENV/ALGO/zoo_hyperparams.yml``);
A2C's are SB3's defaults plus ``normalize: true``, not tuned. The budget ``-n`` overrides each file's
``n_timesteps`` so that all three algorithms get the same number of steps. Envs, budgets, seeds and targets:
``SCOPE`` in ``benchmarks/common.py``.

Provenance: just before a run starts, ``provenance.json`` records the git commit, whether the tree is dirty, the
hyperparameter entry with its sha256 and the sha256 of the code of ``sb3_reinforce/`` (``common.provenance``);
``done.json`` is written when the run has finished. A tree that differs from ``HEAD`` stops the runs (commit
first); ``--allow-dirty`` runs anyway, saves ``git diff HEAD`` beside each run (``git_diff.patch``) and records its
sha256. ``analyze.py`` flags every run whose recorded hashes differ from the current tree's.

Raw logs go to ``benchmarks/runs/`` (not committed); ``collect_one`` copies the small per-seed files that the
results need into ``benchmarks/data/`` (committed).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import (
    ALGOS,
    DATA_DIR,
    RUNS_DIR,
    SCOPE,
    ZOO_ENTRY_ALIASES,
    code_check,
    code_hash,
    dirty_files,
    entry_hash,
    hyperparams_entry,
    provenance,
    provenance_issues,
    system_info,
)


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

    path = DATA_DIR / env / algo / "zoo_hyperparams.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# RL Zoo {rl_zoo3.__version__} {algo}.yml entry {ZOO_ENTRY_ALIASES[env]}, unchanged, under the name {env}\n"
    # hyperparams_entry resolves the file's YAML anchors (<<: *mujoco-defaults)
    path.write_text(header + yaml.safe_dump({env: hyperparams_entry(env, algo)}))
    return path


def command(env: str, algo: str, seed: int) -> list[str]:
    spec = SCOPE[env]
    conf = zoo_conf(env, algo)
    return [
        sys.executable, "-m", "sb3_reinforce.zoo", "train",
        "--algo", algo, "--env", env, "-n", str(spec.budget), "--seed", str(seed),
        "--eval-freq", str(spec.eval_freq), "--eval-episodes", "10", "--n-eval-envs", "1",
        "--num-threads", "1", "-f", str(run_dir(env, algo, seed)),
    ] + (["-conf", str(conf)] if conf is not None else []) + (
        # a log table per update: explained_variance.csv keeps one row per update
        ["--log-interval", "1"] if algo == "reinforce" else []
    )  # fmt: skip


def flags(env: str, algo: str, seed: int) -> list[str]:
    """``provenance_issues`` of the committed run ``data/ENV/ALGO/seedSEED`` against the current tree."""
    folder = DATA_DIR / env / algo / f"seed{seed}"
    record = json.loads((folder / "provenance.json").read_text()) if (folder / "provenance.json").exists() else None
    done = json.loads((folder / "done.json").read_text())
    current_entry = entry_hash(hyperparams_entry(env, algo))
    return provenance_issues(record, done, code_check(algo, code_hash()), current_entry)


def run_one(env: str, algo: str, seed: int, allow_dirty: bool = False, rerun_flagged: bool = False) -> str:
    """
    One run: write ``provenance.json`` (and ``git_diff.patch`` from a dirty tree) before it starts, train, write
    ``done.json`` when it has finished, and collect its files into ``data/``. A run already done (in ``runs/`` or
    ``data/``) is skipped; with ``rerun_flagged``, a committed run that ``analyze.py`` would flag is run again and
    replaces it.
    """
    folder = run_dir(env, algo, seed)
    committed = DATA_DIR / env / algo / f"seed{seed}" / "done.json"
    if committed.exists() and rerun_flagged and flags(env, algo, seed):
        if folder.exists() and not (folder / "done.json").exists():
            shutil.rmtree(folder)
    # done here, or on another machine (the collected data is committed)
    elif (folder / "done.json").exists() or committed.exists():
        return f"skip {env} {algo} {seed} (done)"
    cmd = command(env, algo, seed)
    try:
        # taken now, just before the run starts: the code may change while earlier runs of this call train
        record, diff = provenance(env, algo, allow_dirty=allow_dirty)
    except RuntimeError as error:
        return f"FAIL {env} {algo} {seed} (not started: {error})"
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted run starts again
    folder.mkdir(parents=True)
    record["command"] = " ".join(cmd[1:])
    if diff:
        (folder / "git_diff.patch").write_text(diff)
        record["diff_file"] = "git_diff.patch"
    (folder / "provenance.json").write_text(json.dumps(record, indent=2, sort_keys=True))
    start = time.time()
    with open(folder / "train.log", "w") as log:
        process = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.time() - start
    if process.returncode != 0:
        return f"FAIL {env} {algo} {seed} (exit {process.returncode}, see {folder / 'train.log'})"
    budget = SCOPE[env].budget
    # completion only; what the run started from is in provenance.json, written before it started
    done = {
        "command": " ".join(cmd[1:]),
        "wall_clock_s": round(wall, 1),
        "steps": budget,
        "steps_per_s": round(budget / wall),
    }
    (folder / "done.json").write_text(json.dumps(done, indent=2))
    collect_one(env, algo, seed)
    return f"done {env} {algo} {seed} in {wall:.0f}s"


def collect_one(env: str, algo: str, seed: int) -> None:
    """
    Copy the small files the results need: evaluations.npz, done.json, provenance.json (and git_diff.patch, if the
    tree was dirty), the training monitor (for time) and the logged ``train/explained_variance`` (if any).
    """
    source = run_dir(env, algo, seed)
    target = DATA_DIR / env / algo / f"seed{seed}"
    if target.exists():
        shutil.rmtree(target)  # a rerun replaces every file of the run it reran
    target.mkdir(parents=True)
    for name in ("done.json", "provenance.json", "git_diff.patch"):
        if (source / name).exists():
            shutil.copy(source / name, target / name)
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
    explained = explained_variance_rows((source / "train.log").read_text()) if (source / "train.log").exists() else []
    if explained:
        (target / "explained_variance.csv").write_text(
            "steps,explained_variance\n" + "".join(f"{steps},{value}\n" for steps, value in explained)
        )


def explained_variance_rows(log: str) -> list[tuple[int, float]]:
    """(total_timesteps, train/explained_variance) of every logger table of a training log (SB3's stdout format)."""
    rows, steps = [], None
    for line in log.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2:
            continue
        if cells[0] == "total_timesteps":
            steps = int(cells[1])
        elif cells[0] == "explained_variance" and steps is not None:
            rows.append((steps, float(cells[1])))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=list(SCOPE), choices=list(SCOPE))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=list(ALGOS))
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default: the env's number of seeds")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (at most 2 on 2 cores)")
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="start from a tree that differs from HEAD: save `git diff HEAD` beside each run (git_diff.patch) and "
        "record its sha256 in provenance.json. Without it, a dirty tree stops the runs before they start.",
    )
    parser.add_argument(
        "--rerun-flagged",
        action="store_true",
        help="run again every committed run that analyze.py flags (no provenance at start, dirty tree, or code or "
        "entry that differ from this tree) and replace its data",
    )
    args = parser.parse_args()
    dirty = dirty_files()
    if dirty and not args.allow_dirty:
        parser.error(
            "the working tree differs from HEAD in: " + ", ".join(dirty) + ". Commit these files first, so that "
            "each run's provenance.json names the code it ran, or pass --allow-dirty to save the diff beside each run."
        )

    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / "system.json").write_text(json.dumps(system_info(), indent=2))
    runs = [
        (env, algo, seed)
        for env in args.envs
        for seed in (args.seeds if args.seeds is not None else range(SCOPE[env].n_seeds))
        for algo in args.algos
    ]
    with ThreadPoolExecutor(max_workers=min(args.jobs, 2)) as pool:
        for message in pool.map(
            lambda run: run_one(run[0], run[1], run[2], allow_dirty=args.allow_dirty, rerun_flagged=args.rerun_flagged), runs
        ):
            print(message, flush=True)


if __name__ == "__main__":
    main()
