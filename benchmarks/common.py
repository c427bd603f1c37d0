"""
What the benchmark scripts share: the one table of envs, budgets and targets, the system information recorded
beside every result, and the provenance of a run (the code and hyperparameters it was started from).

``run_benchmarks.py``, ``analyze.py`` and its modules, ``throughput.py``, ``time_to_target.py`` and ``soak.py`` import
from here; nothing here trains (``run_isolated`` runs a given function in a fresh process, to measure its peak memory
alone).
"""

import hashlib
import json
import multiprocessing
import os
import platform
import resource
import subprocess
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RUNS_DIR = BENCH_DIR / "runs"
DATA_DIR = BENCH_DIR / "data"
PACKAGE_DIR = REPO_ROOT / "sb3_reinforce"
REINFORCE_HYPERPARAMS = PACKAGE_DIR / "hyperparams" / "reinforce.yml"
# Pairs of code hashes that train identically (fingerprint.py)
FINGERPRINTS = DATA_DIR / "training_fingerprints.json"


@dataclass(frozen=True)
class EnvSpec:
    """
    How one env is benchmarked.

    :param budget: env steps per run, the same for every algorithm (``-n`` overrides each file's ``n_timesteps``)
    :param n_seeds: seeds run by default (0 to ``n_seeds - 1``)
    :param eval_freq: env steps between two deterministic evaluations of 10 episodes
    :param target: REINFORCE's target, on the IQM over seeds of the final evaluation (the README's table)
    """

    budget: int
    n_seeds: int
    eval_freq: int
    target: float


# The one table of envs and targets: the runner, the analysis and the README's table use these numbers.
SCOPE: dict[str, EnvSpec] = {
    "CartPole-v1": EnvSpec(budget=100_000, n_seeds=10, eval_freq=5_000, target=475.0),
    "Acrobot-v1": EnvSpec(budget=500_000, n_seeds=5, eval_freq=10_000, target=-85.0),
    "LunarLander-v3": EnvSpec(budget=1_000_000, n_seeds=10, eval_freq=25_000, target=200.0),
    "Pendulum-v1": EnvSpec(budget=1_000_000, n_seeds=5, eval_freq=25_000, target=-250.0),
    "HalfCheetah-v5": EnvSpec(budget=1_000_000, n_seeds=5, eval_freq=25_000, target=3000.0),
    "Hopper-v5": EnvSpec(budget=1_000_000, n_seeds=5, eval_freq=25_000, target=2000.0),
    "Walker2d-v5": EnvSpec(budget=1_000_000, n_seeds=5, eval_freq=25_000, target=2000.0),
    "Ant-v5": EnvSpec(budget=1_000_000, n_seeds=5, eval_freq=25_000, target=1500.0),
}
ALGOS = ("reinforce", "a2c", "ppo")
# RL Zoo 2.9.2's a2c.yml and ppo.yml have entries for the MuJoCo v4 envs only: A2C and PPO get the v4 entry,
# unchanged, under the v5 name (run_benchmarks.py passes it with -conf)
ZOO_ENTRY_ALIASES = {
    "HalfCheetah-v5": "HalfCheetah-v4",
    "Hopper-v5": "Hopper-v4",
    "Walker2d-v5": "Walker2d-v4",
    "Ant-v5": "Ant-v4",
}


def system_info() -> dict[str, str]:
    """
    Versions and hardware, recorded beside every result.

    :return: the versions of python, torch, stable_baselines3, rl_zoo3, gymnasium and sb3_reinforce, the CPU model
        with its core count (``cpu``), and the OS (``os``)
    """
    import gymnasium
    import rl_zoo3
    import stable_baselines3
    import torch

    import sb3_reinforce

    cpu = platform.processor() or platform.machine()
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


# The harness's own output, which does not make the tree dirty
_OUTPUT = (":(exclude)benchmarks/data", ":(exclude)benchmarks/runs")


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False).stdout


def git_commit() -> str:
    """The commit checked out (``HEAD``), or ``"unknown"`` outside a git checkout."""
    return _git("rev-parse", "HEAD").strip() or "unknown"


def dirty_files() -> list[str]:
    """
    The files that make the working tree differ from ``HEAD``: modified tracked files, and untracked files of the
    package and the harness (``sb3_reinforce/``, ``benchmarks/``), which the runs import. The harness's own output
    (``benchmarks/data/``, ``benchmarks/runs/``) does not count.

    :return: paths relative to the repository root, sorted; empty for a clean tree
    """
    modified = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *_OUTPUT).splitlines()
    return sorted({line[3:] for line in modified if line.strip()} | set(_untracked_sources()))


def _untracked_sources() -> list[str]:
    return _git("ls-files", "--others", "--exclude-standard", "--", "sb3_reinforce", "benchmarks", *_OUTPUT).split()


def tree_diff() -> str:
    """
    What a dirty tree changes against ``HEAD``: ``git diff HEAD`` (without the harness's output), followed by
    the untracked files of the package and the harness as new-file diffs.
    """
    diff = _git("diff", "HEAD", "--", ".", *_OUTPUT)
    for path in _untracked_sources():
        # git diff --no-index exits with 1 when the files differ; _git ignores the status
        diff += _git("diff", "--no-index", "--", "/dev/null", path)
    return diff


def sha256_text(text: str) -> str:
    """The sha256 of a text (UTF-8), as hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def code_hash(package_dir: Path = PACKAGE_DIR) -> str:
    """
    A hash of the algorithm's code: sha256 over every ``*.py`` file under ``package_dir`` (default
    ``sb3_reinforce/``), in sorted order of their relative paths, each as its path, a NUL byte, its content and a NUL
    byte. Any change of a source file, or an added or removed one, changes it.
    """
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*.py"), key=lambda p: p.relative_to(package_dir).as_posix()):
        digest.update(path.relative_to(package_dir).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def hyperparams_file(env: str, algo: str) -> Path:
    """
    The hyperparameter file that ``run_benchmarks.py`` gives the Zoo for ``algo`` on ``env``: ours for REINFORCE,
    the Zoo's own ``a2c.yml`` / ``ppo.yml`` otherwise (for ``ZOO_ENTRY_ALIASES``, the entry is read from it under
    the aliased name).
    """
    if algo == "reinforce":
        return REINFORCE_HYPERPARAMS
    import rl_zoo3

    return Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml"


def hyperparams_entry(env: str, algo: str) -> dict[str, Any]:
    """
    The entry the Zoo uses for ``algo`` on ``env``, as ``yaml.safe_load`` reads it (anchors resolved): the env's
    own entry, else its ``ZOO_ENTRY_ALIASES`` entry, else ``default`` (as the Zoo falls back; not for Atari).

    :raise KeyError: if the file has none of them
    """
    import yaml

    with open(hyperparams_file(env, algo)) as file:
        entries = yaml.safe_load(file)
    for key in (env, ZOO_ENTRY_ALIASES.get(env), "default"):
        if key is not None and key in entries:
            return dict(entries[key])
    raise KeyError(f"no entry for {env} (nor 'default') in {hyperparams_file(env, algo)}")


def entry_hash(entry: dict[str, Any]) -> str:
    """The sha256 of a hyperparameter entry, serialized canonically (``json.dumps(entry, sort_keys=True)``)."""
    return sha256_text(json.dumps(entry, sort_keys=True, default=str))


def provenance(env: str, algo: str, allow_dirty: bool = False) -> tuple[dict[str, Any], str]:
    """
    What a run starts from, taken just before it starts (``run_benchmarks.py`` writes it to ``provenance.json``):
    the time, the commit, whether the tree is dirty (and which files), the hyperparameter entry and its hash
    (``entry_hash``), the hash of the algorithm's code (``code_hash``), and ``system_info()``.

    :param allow_dirty: start from a dirty tree; otherwise a dirty tree raises
    :return: the record, and the tree's diff against ``HEAD`` (``tree_diff()``, empty for a clean tree), whose
        sha256 the record holds as ``diff_sha256``: save it beside the run
    :raise RuntimeError: if the tree is dirty and ``allow_dirty`` is False, naming the files and the fix
    """
    dirty = dirty_files()
    if dirty and not allow_dirty:
        raise RuntimeError(
            "refusing to start a benchmark run from a dirty tree: these files differ from HEAD: "
            + ", ".join(dirty)
            + ". Commit them first (git add ... && git commit), so that the run's commit says what it ran; or pass "
            "--allow-dirty to save `git diff HEAD` beside each run and record its hash."
        )
    entry = hyperparams_entry(env, algo)
    diff = tree_diff() if dirty else ""
    record: dict[str, Any] = {
        "recorded": "at start",
        "started_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "git_dirty": bool(dirty),
        "dirty_files": dirty,
        "hyperparams_file": str(hyperparams_file(env, algo).relative_to(REPO_ROOT))
        if algo == "reinforce"
        else f"rl_zoo3/hyperparams/{algo}.yml",
        "entry": entry,
        "entry_sha256": entry_hash(entry),
        "code_sha256": code_hash(),
        "system": system_info(),
    }
    if dirty:
        record["diff_sha256"] = sha256_text(diff)
    return record, diff


def accepted_code_hashes(current_code: str, path: Path = FINGERPRINTS) -> frozenset[str]:
    """
    The code hashes whose REINFORCE runs the current code reproduces bit for bit: ``current_code``, and every hash
    linked to it by a chain of recorded training fingerprints (``data/training_fingerprints.json``, written by
    ``fingerprint.py`` when two commits train identically on every env of ``SCOPE``).

    :param current_code: ``code_hash()`` of the current tree
    :param path: the fingerprint records
    """
    records = json.loads(path.read_text()) if path.exists() else []
    accepted, grew = {current_code}, True
    while grew:
        grew = False
        for record in records:
            pair = {record["code_sha256"], record["same_training_as"]}
            if pair & accepted and not pair <= accepted:
                accepted |= pair
                grew = True
    return frozenset(accepted)


def code_check(algo: str, current_code: str, fingerprints: Path = FINGERPRINTS) -> frozenset[str] | None:
    """
    The code hashes a run of ``algo`` is checked against: for REINFORCE, ``current_code`` and the hashes whose training
    it reproduces (``accepted_code_hashes``); None for A2C and PPO, whose training code is SB3's (their versions are in
    ``provenance.json``'s ``system``): a change of ``sb3_reinforce/`` does not make their runs stale.
    """
    return accepted_code_hashes(current_code, fingerprints) if algo == "reinforce" else None


def provenance_issues(
    record: dict[str, Any] | None, done: dict[str, Any], current_code: frozenset[str] | None, current_entry: str
) -> list[str]:
    """
    Why a run's results may not come from the current tree; empty if its start-time provenance matches it.

    :param record: the run's ``provenance.json``, or None if it has none (runs made before it existed)
    :param done: the run's ``done.json``; older ones hold the commit taken when the run ended (``git_commit``)
    :param current_code: the code hashes that train as the current tree does (``code_check``), or None where the run
        does not depend on them (A2C and PPO run SB3's code, through the Zoo)
    :param current_entry: ``entry_hash`` of the entry that the current tree gives this env and algorithm
    :return: short flags: "recorded at end, not at start", "dirty", "no provenance: no commit recorded",
        "code differs from this tree", "hyperparameter entry differs from this tree"
    """
    if record is None:
        commit = done.get("git_commit")
        if commit is None:
            return ["no provenance: no commit recorded"]
        issues = ["recorded at end, not at start"]
        return [*issues, "dirty"] if commit.endswith("+dirty") else issues
    issues = []
    if record.get("git_dirty"):
        issues.append(f"dirty (diff sha256 {str(record.get('diff_sha256', '?'))[:12]})")
    if current_code is not None and record.get("code_sha256") not in current_code:
        issues.append("code differs from this tree")
    if record.get("entry_sha256") != current_entry:
        issues.append("hyperparameter entry differs from this tree")
    return issues


class FixedLengthEnv(gym.Env):
    """
    Episodes of exactly ``length`` steps (never ending if None), reward 1 per step, one constant observation.

    :param length: steps per episode, or None
    :param observation_space: the observation space (its observation is all zeros)
    :param n_actions: size of the ``Discrete`` action space
    """

    def __init__(self, length: int | None, observation_space: spaces.Box | None = None, n_actions: int = 2):
        super().__init__()
        self.length, self.t = length, 0
        self.observation_space = observation_space or spaces.Box(-1, 1, (4,), np.float32)
        self.action_space = spaces.Discrete(n_actions)
        self.obs = np.zeros(self.observation_space.shape, dtype=self.observation_space.dtype)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self.obs, {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return self.obs, 1.0, self.length is not None and self.t >= self.length, False, {}


def _call_and_measure(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, float]:
    result = fn(*args)
    # ru_maxrss is in KiB on Linux: the peak of this (fresh) process alone
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_isolated(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    """
    Run ``fn(*args)`` in a fresh process, so that each measurement has a peak memory of its own.

    :param fn: a module-level function (it is pickled by name)
    :param args: its arguments
    :return: its result, and the peak resident memory of that process in MiB
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_call_and_measure, fn, args).result()
