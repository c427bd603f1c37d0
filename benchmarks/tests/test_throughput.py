"""``throughput.py cartpole``: steps/s, the paired ratios to A2C, and the table RESULTS.md shows of them."""

import argparse
import json
import statistics
from pathlib import Path

import pytest
import tables
import throughput


def test_cartpole_ratios_and_their_table(tmp_path: Path) -> None:
    args = argparse.Namespace(n_envs=2, n_steps=8, timesteps=64, repeats=3)
    result = throughput.cartpole(args)
    fps = result["all_steps_per_s"]
    assert set(fps) == set(throughput.VARIANTS) and all(len(values) == 3 for values in fps.values())
    for variant in throughput.TRAINING_VARIANTS:
        # ratios repeat by repeat (paired), not a ratio of medians; the file rounds steps/s to the step and ratios
        # to 3 decimals, hence the tolerance
        paired = [r / a for r, a in zip(fps[variant], fps["a2c"], strict=True)]
        ratio, tol = result[f"{variant}_over_a2c"], 0.01 * max(paired)
        assert ratio["median"] == pytest.approx(statistics.median(paired), abs=tol)
        assert min(paired) - tol <= ratio["ci95"][0] <= ratio["median"] <= ratio["ci95"][1] <= max(paired) + tol
    assert "a2c_over_a2c" not in result and "ceiling_over_a2c" not in result

    assert tables.throughput_section((tmp_path / "missing.json",)) == []
    path = tmp_path / "throughput.json"
    path.write_text(json.dumps({"commit": "0123456789abcdef", "dirty_files": [], "system": {"cpu": "test CPU"}, **result}))
    lines = tables.throughput_section((path, tmp_path / "missing.json"))
    assert lines[0] == "## Steps per second against A2C"
    assert f"`{result['command']}`; commit 0123456; test CPU." in lines[4]
    rows = {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ") and not line.startswith("| variant")}
    assert set(rows) == set(throughput.VARIANTS)
    a2c = result["steps_per_s"]["a2c"]
    assert rows["a2c"] == f"| a2c | {a2c['median']:,} [{a2c['min']:,}, {a2c['max']:,}] |  |"
    step_kl = result["reinforce_step_kl_over_a2c"]
    assert rows["reinforce_step_kl"].endswith(
        f"| {step_kl['median']:.3f} [{step_kl['ci95'][0]:.3f}, {step_kl['ci95'][1]:.3f}] |"
    )
