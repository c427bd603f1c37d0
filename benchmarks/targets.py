"""
RESULTS.md's sections on REINFORCE's targets: each env's target in ``SCOPE`` (``common.py``) and the comparison with
A2C; CartPole-v1's and LunarLander-v3's extra targets, and no standing seed on Hopper-v5, Walker2d-v5 and Ant-v5; the fit
of the value baseline.
"""

import numpy as np
from common import SCOPE
from run_data import Run, aggregate_iqm, first_reach, fmt_interval, fmt_steps, interval, seed_list

# CartPole-v1's extra targets: first reach the target by this many steps, and never drop below it after that many
CARTPOLE_REACH_BY = 20_000
CARTPOLE_STAY_FROM = 50_000
# Extra targets: LunarLander-v3's IQM CI starts at 150 or more; no seed of STANDING_ENVS stands still, that is
# ends with evaluation episodes of the full time limit worth at most STANDING_PER_STEP per step (the alive bonus is 1)
LUNAR_CI_LOW_TARGET = 150.0
STANDING_PER_STEP = 1.1
STANDING_ENVS = ("Hopper-v5", "Walker2d-v5", "Ant-v5")
# LunarLander-v3's value-baseline target: mean train/explained_variance over the last 200k steps >= 0.5
EXPLAINED_VARIANCE_LAST, EXPLAINED_VARIANCE_TARGET = 200_000, 0.5


def against_a2c(reinforce: tuple[float, float, float], a2c: tuple[float, float, float]) -> str:
    """
    REINFORCE's target against A2C: its IQM at or above A2C's, or each IQM inside the other's 95% CI.

    :param reinforce: REINFORCE's IQM, CI low, CI high
    :param a2c: A2C's IQM, CI low, CI high
    :return: ``"met"``, ``"met (inside both CIs)"`` or ``"missed"``
    """
    if reinforce[0] >= a2c[0]:
        return "met"
    inside = a2c[1] <= reinforce[0] <= a2c[2] and reinforce[1] <= a2c[0] <= reinforce[2]
    return "met (inside both CIs)" if inside else "missed"


def stands_still(run: Run, max_episode_steps: int) -> bool:
    """The run ends with evaluation episodes of the full time limit, worth at most ``STANDING_PER_STEP`` per step."""
    return run["final_length"] >= max_episode_steps and run["scores"][-1] <= STANDING_PER_STEP * max_episode_steps


def targets_section(all_data: dict[str, dict[str, list[Run]]]) -> list[str]:
    """
    REINFORCE's targets (``SCOPE`` in ``common.py``) and its target against A2C, met or missed; then
    LunarLander-v3's extra target, no standing seed on ``STANDING_ENVS``, and CartPole-v1's extra targets.
    """
    import gymnasium as gym

    lines = [
        "| env | target (IQM of final eval) | reached [95% CI] | status | A2C [95% CI] | ≥ A2C, or inside both CIs |",
        "|---|---|---|---|---|---|",
    ]
    reached: dict[str, tuple[float, float, float]] = {}  # REINFORCE's IQM and CI per env with runs
    for env, spec in SCOPE.items():
        runs = all_data[env]["reinforce"]
        if not runs:
            lines.append(f"| {env} | ≥ {spec.target:g} | — | not run yet | | |")
            continue
        ours = reached[env] = interval(np.array([run["scores"][-1] for run in runs]), aggregate_iqm)
        a2c_runs = all_data[env]["a2c"]
        theirs = interval(np.array([run["scores"][-1] for run in a2c_runs]), aggregate_iqm) if a2c_runs else None
        status = "met" if ours[0] >= spec.target else "missed"
        a2c_cells = f"{fmt_interval(theirs)} | {against_a2c(ours, theirs)}" if theirs else "not run | —"
        lines.append(f"| {env} | ≥ {spec.target:g} | {fmt_interval(ours)} | {status} | {a2c_cells} |")
    lunar = all_data["LunarLander-v3"]["reinforce"]
    if lunar:
        _, low, _ = reached["LunarLander-v3"]
        enough = len(lunar) >= SCOPE["LunarLander-v3"].n_seeds
        lines += [
            "",
            f"LunarLander-v3 extra target: the lower end of the IQM's 95% CI ≥ {LUNAR_CI_LOW_TARGET:g} over "
            f"{SCOPE['LunarLander-v3'].n_seeds} seeds: {low:.1f} over {len(lunar)} "
            f"({'met' if enough and low >= LUNAR_CI_LOW_TARGET else 'missed'}).",
        ]
    for env in STANDING_ENVS:
        runs = all_data[env]["reinforce"]
        if not runs:
            continue
        limit = gym.spec(env).max_episode_steps
        assert limit is not None, f"gymnasium registers {env} with a time limit of 1000 steps"
        standing = [run["seed"] for run in runs if stands_still(run, limit)]
        lines += [
            "",
            f"{env} extra target: no seed standing still (final evaluation episodes of all {limit} steps, at most "
            f"{STANDING_PER_STEP:g} per step): seeds standing: {seed_list(standing) if standing else 'none'} "
            f"({'met' if not standing else 'missed'}).",
        ]
    cartpole = all_data["CartPole-v1"]["reinforce"]
    if cartpole:
        target = SCOPE["CartPole-v1"].target
        reach = np.median([first_reach(run, target) for run in cartpole])
        late = [run["scores"][run["timesteps"] >= CARTPOLE_STAY_FROM] for run in cartpole]
        stay = sum(bool((scores >= target).all()) for scores in late)
        # The IQM over seeds at each evaluation from CARTPOLE_STAY_FROM on (every run has the same schedule)
        late_iqm = np.array([aggregate_iqm(column) for column in np.array(late).T])
        lines += [
            "",
            f"CartPole-v1 extra targets: first ≥ {target:g} by {fmt_steps(CARTPOLE_REACH_BY)} steps (median over seeds): "
            f"{fmt_steps(reach)} ({'met' if reach <= CARTPOLE_REACH_BY else 'missed'}). Never below {target:g} after "
            f"{fmt_steps(CARTPOLE_STAY_FROM)} steps: IQM over seeds at each evaluation from then on, lowest "
            f"{np.min(late_iqm):.1f} ({'met' if np.min(late_iqm) >= target else 'missed'}); every seed: "
            f"{'met' if stay == len(late) else 'missed'} ({stay}/{len(late)} seeds stay ≥ {target:g}).",
        ]
    return lines


def value_fit_section(all_data: dict[str, dict[str, list[Run]]]) -> list[str]:
    """The mean ``train/explained_variance`` over each run's last steps, where the run's log was collected."""
    lines = [
        f"Mean of `train/explained_variance` (one value per update, from the training log) over the last "
        f"{fmt_steps(EXPLAINED_VARIANCE_LAST)} steps of each run whose log was collected; REINFORCE's target for "
        f"LunarLander-v3 is a mean ≥ {EXPLAINED_VARIANCE_TARGET:g}. It is 1 - Var(G - V) / Var(G) over a batch: where "
        "the returns G barely vary (CartPole-v1 once solved, when every episode runs to the time limit, and its returns "
        "are bootstrapped there), it divides noise by a tiny variance and can fall far below 0.",
        "",
        "| env | algo | per seed | mean over seeds |",
        "|---|---|---|---|",
    ]
    for env, data in all_data.items():
        for algo, runs in data.items():
            means = {}
            for run in runs:
                if run["explained_variance"] is not None:
                    steps, values = run["explained_variance"].T
                    means[run["seed"]] = float(values[steps > steps.max() - EXPLAINED_VARIANCE_LAST].mean())
            if means:
                per_seed = ", ".join(f"{seed}: {value:.2f}" for seed, value in means.items())
                lines.append(f"| {env} | {algo} | {per_seed} | {np.mean(list(means.values())):.2f} |")
    return lines
