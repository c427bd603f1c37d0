"""
RESULTS.md's normalized scores: each run's final score scaled per env between a uniformly random policy (0, the mean
return in ``data/random_scores.json``, written by ``python benchmarks/random_scores.py``) and PPO's IQM on that env
(1); per env, the IQM over seeds; over the envs, rliable's IQM of the runs x envs matrix with its stratified
bootstrap CI; per env, whether REINFORCE's lowest seed reaches half its IQM (no seed left behind). An env without a
random score, without PPO runs, or where PPO's IQM is not above the random score is left out, with a line saying why.
"""

import json
from pathlib import Path

import numpy as np
from common import ALGOS, DATA_DIR, SCOPE
from run_data import BOOTSTRAP_SEED, REPS, Run, aggregate_iqm, interval

RANDOM_SCORES = DATA_DIR / "random_scores.json"
# REINFORCE's normalized target: its IQM at 0.9 or more of the way from a random policy to PPO's IQM, on at
# least 6 of the 8 envs of SCOPE
NORMALIZED_TARGET, NORMALIZED_TARGET_ENVS = 0.9, 6
# No seed left behind: on every env, REINFORCE's lowest seed at this fraction of its IQM or more (normalized scores)
LOWEST_SEED_FRACTION = 0.5


def load_random_scores(path: Path = RANDOM_SCORES) -> dict[str, float]:
    """The mean return of a random policy per env, from ``random_scores.py``'s output; empty if it does not exist."""
    if not path.exists():
        return {}
    return {env: float(entry["mean"]) for env, entry in json.loads(path.read_text())["scores"].items()}


def normalize(scores: np.ndarray, random: float, reference: float) -> np.ndarray:
    """``(scores - random) / (reference - random)``: 0 at the random policy's score, 1 at the reference's."""
    return (np.asarray(scores, dtype=float) - random) / (reference - random)


def normalized_scores(
    all_data: dict[str, dict[str, list[Run]]], random_scores: dict[str, float]
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, str]]:
    """
    Every run's final score normalized between a random policy (0) and PPO's IQM over seeds (1), per env.

    :param all_data: the runs per env and algorithm (``load_runs``), all of them: flagged runs included
    :param random_scores: the random policy's mean return per env (``load_random_scores``)
    :return: per env that can be normalized, per algorithm, the normalized final scores of its runs in seed order
        (empty for an algorithm without runs); and per env left out, why (no random score, no PPO runs, or PPO's IQM
        not above the random score)
    """
    normalized: dict[str, dict[str, np.ndarray]] = {}
    left_out: dict[str, str] = {}
    for env, data in all_data.items():
        ppo = data.get("ppo", [])
        if env not in random_scores:
            left_out[env] = f"no random score in {RANDOM_SCORES.name}"
            continue
        if not ppo:
            left_out[env] = "no PPO runs"
            continue
        random, reference = random_scores[env], aggregate_iqm(np.array([run["scores"][-1] for run in ppo]))
        if reference <= random:
            left_out[env] = f"PPO's IQM ({reference:.1f}) is not above the random policy's score ({random:.1f})"
            continue
        normalized[env] = {
            algo: normalize(np.array([run["scores"][-1] for run in runs]), random, reference) for algo, runs in data.items()
        }
    return normalized, left_out


def normalized_section(all_data: dict[str, dict[str, list[Run]]], random_scores: dict[str, float]) -> list[str]:
    """
    RESULTS.md's normalized summary: per env, the random score, PPO's IQM and each algorithm's normalized IQM over
    its seeds, and REINFORCE's lowest seed against ``LOWEST_SEED_FRACTION`` of its IQM; then each algorithm's IQM over
    the envs where the three have runs, with its 95% CI; REINFORCE's count of envs at ``NORMALIZED_TARGET`` or more,
    and of envs whose lowest seed is at ``LOWEST_SEED_FRACTION`` of the IQM or more; a line per env left out.
    """
    normalized, left_out = normalized_scores(all_data, random_scores)
    lines = [
        f"Each run's final score, normalized per env: (score - random) / (PPO's IQM - random), where random is the mean "
        f"return of a uniformly random policy over 100 episodes ([data/{RANDOM_SCORES.name}](data/{RANDOM_SCORES.name}), "
        "`python benchmarks/random_scores.py`): 0 is the random policy, 1 is PPO's IQM. Per env, the IQM over all its "
        "seeds; last row, rliable's IQM over the runs x envs matrix, 95% stratified bootstrap CI "
        f"({REPS} reps, seed {BOOTSTRAP_SEED}). All committed runs are used, the ones flagged for provenance included "
        "(as in *Final scores*).",
        "",
        f"| env | random | PPO IQM | {' | '.join(ALGOS)} | reinforce ≥ {NORMALIZED_TARGET:g} | reinforce's lowest seed "
        f"(≥ {LOWEST_SEED_FRACTION:g} x its IQM) |",
        f"|---|---|---|{'---|' * len(ALGOS)}---|---|",
    ]
    reached = kept = 0
    for env, scores in normalized.items():
        ppo = aggregate_iqm(np.array([run["scores"][-1] for run in all_data[env]["ppo"]]))
        cells = [f"{aggregate_iqm(scores[algo]):.2f}" if len(scores[algo]) else "not run" for algo in ALGOS]
        ours = scores["reinforce"]
        iqm = aggregate_iqm(ours) if len(ours) else np.nan
        met = bool(iqm >= NORMALIZED_TARGET)
        reached += met
        status = "not run" if not len(ours) else "yes" if met else "no"
        lowest = "not run"
        if len(ours):
            seed = int(np.argmin(ours))
            none_behind = bool(ours[seed] >= LOWEST_SEED_FRACTION * iqm)
            kept += none_behind
            lowest = f"seed {all_data[env]['reinforce'][seed]['seed']}: {ours[seed]:.2f} ({'yes' if none_behind else 'no'})"
        lines.append(f"| {env} | {random_scores[env]:.1f} | {ppo:.1f} | {' | '.join(cells)} | {status} | {lowest} |")
    # rliable needs the same number of runs on every env: the first n seeds of each, n the fewest any algorithm has
    common = [env for env, scores in normalized.items() if all(len(scores[algo]) for algo in ALGOS)]
    if common:
        n = min(len(normalized[env][algo]) for env in common for algo in ALGOS)
        cells = []
        for algo in ALGOS:
            iqm, low, high = interval(np.stack([normalized[env][algo][:n] for env in common], axis=1), aggregate_iqm)
            cells.append(f"{iqm:.2f} [{low:.2f}, {high:.2f}]")
        lines.append(f"| IQM over {len(common)} envs (first {n} seeds of each) | | | {' | '.join(cells)} | |")
    lines += [
        "",
        f"REINFORCE at {NORMALIZED_TARGET:g} or more on {reached} of the {len(SCOPE)} envs of `SCOPE` (the target: "
        f"at least {NORMALIZED_TARGET_ENVS}; an env left out counts as not reached). The last row uses the envs where "
        "the three algorithms have runs, and on each the first seeds, as many as the fewest runs any of them has there "
        "(rliable's bootstrap needs the same number of runs per env).",
        "",
        f"No seed left behind (REINFORCE's lowest seed at {LOWEST_SEED_FRACTION:g} x its IQM or more, on every env of "
        f"`SCOPE`): {kept} of {len(SCOPE)} envs ({'met' if kept == len(SCOPE) else 'missed'}).",
    ]
    missing = [env for env in normalized if env not in common]
    notes = [f"- Not in the last row (an algorithm has no runs): {', '.join(missing)}."] if missing else []
    notes += [f"- Left out, {env}: {reason}." for env, reason in left_out.items()]
    return [*lines, "", *notes] if notes else lines
