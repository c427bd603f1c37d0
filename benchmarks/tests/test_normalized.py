"""``normalized.py``: scores between a random policy (0) and PPO's IQM (1), per env and over the envs."""

import json
from pathlib import Path

import numpy as np
import pytest
from common import BENCH_DIR
from normalized import load_random_scores, normalize, normalized_scores, normalized_section
from run_data import Run
from tables import README_END, README_START, TABLE_PAGES, readme_table


def _runs(finals: list[float]) -> list[Run]:
    """Runs of seeds 0, 1, ... whose final evaluation is each of ``finals``."""
    return [{"seed": seed, "scores": np.array([0.0, final])} for seed, final in enumerate(finals)]


def test_normalize() -> None:
    # random 0, PPO's IQM 100: a run at 90 is 0.9 of the way
    assert normalize(np.array([90.0, 0.0, 100.0, 150.0]), 0.0, 100.0) == pytest.approx([0.9, 0.0, 1.0, 1.5])
    # negative returns (Acrobot-v1, Pendulum-v1): random -500, PPO -100; -300 is halfway, -600 below random
    assert normalize(np.array([-300.0, -600.0]), -500.0, -100.0) == pytest.approx([0.5, -0.25])


def test_load_random_scores(tmp_path: Path) -> None:
    path = tmp_path / "random_scores.json"
    assert load_random_scores(path) == {}
    path.write_text(json.dumps({"command": "python benchmarks/random_scores.py", "scores": {"CartPole-v1": {"mean": 22.5}}}))
    assert load_random_scores(path) == {"CartPole-v1": 22.5}


def test_normalized_scores_and_section() -> None:
    all_data = {
        # PPO's IQM: the mean of the middle two of 80, 100, 100, 120 = 100
        "CartPole-v1": {"reinforce": _runs([95.0] * 3), "a2c": _runs([50.0] * 3), "ppo": _runs([80.0, 100.0, 100.0, 120.0])},
        # (-320 + 500) / (-100 + 500) = 0.45
        "Acrobot-v1": {"reinforce": _runs([-320.0] * 3), "a2c": _runs([-500.0] * 3), "ppo": _runs([-100.0] * 3)},
        "Pendulum-v1": {"reinforce": _runs([-200.0]), "a2c": [], "ppo": _runs([-1300.0] * 2)},
        "Hopper-v5": {"reinforce": _runs([1000.0]), "a2c": _runs([500.0]), "ppo": []},
        "Walker2d-v5": {"reinforce": [], "a2c": [], "ppo": _runs([100.0] * 2)},
        "Ant-v5": {"reinforce": _runs([1000.0]), "a2c": [], "ppo": _runs([2000.0])},
    }
    random = {"CartPole-v1": 0.0, "Acrobot-v1": -500.0, "Pendulum-v1": -1200.0, "Hopper-v5": 20.0, "Walker2d-v5": 0.0}
    normalized, left_out = normalized_scores(all_data, random)
    assert list(normalized) == ["CartPole-v1", "Acrobot-v1", "Walker2d-v5"]
    assert normalized["CartPole-v1"]["reinforce"] == pytest.approx([0.95] * 3)
    assert normalized["CartPole-v1"]["ppo"] == pytest.approx([0.8, 1.0, 1.0, 1.2])
    assert normalized["Acrobot-v1"]["reinforce"] == pytest.approx([0.45] * 3)
    assert len(normalized["Walker2d-v5"]["reinforce"]) == 0
    # an env without PPO runs, one without a random score, one where PPO does no better than random: skipped
    assert left_out == {
        "Pendulum-v1": "PPO's IQM (-1300.0) is not above the random policy's score (-1200.0)",
        "Hopper-v5": "no PPO runs",
        "Ant-v5": "no random score in random_scores.json",
    }
    lines = normalized_section(all_data, random)
    table = [line for line in lines if line.startswith("| ")]
    assert table[1:4] == [
        "| CartPole-v1 | 0.0 | 100.0 | 0.95 | 0.50 | 1.00 | yes | seed 0: 0.95 (yes) |",
        "| Acrobot-v1 | -500.0 | -100.0 | 0.45 | 0.00 | 1.00 | no | seed 0: 0.45 (yes) |",
        "| Walker2d-v5 | 0.0 | 100.0 | not run | not run | 1.00 | not run | not run |",
    ]
    # over CartPole-v1 and Acrobot-v1 (Walker2d-v5 has no REINFORCE runs), the first 3 seeds of each: REINFORCE's
    # six scores 0.45 x3 and 0.95 x3, their IQM the mean of the middle four = 0.7; A2C's 0 x3 and 0.5 x3: 0.25; PPO's
    # 0.8, 1 x5: 1
    assert table[4].startswith("| IQM over 2 envs (first 3 seeds of each) | | | 0.70 [")
    assert "| 0.25 [" in table[4] and "| 1.00 [" in table[4]
    assert any(line.startswith("REINFORCE at 0.9 or more on 1 of the 8 envs of `SCOPE`") for line in lines)
    # the lowest seed at half the IQM or more on the 2 envs with runs, of 8: missed
    assert any(line.endswith("on every env of `SCOPE`): 2 of 8 envs (missed).") for line in lines)
    assert lines[-4:] == [
        "- Not in the last row (an algorithm has no runs): Walker2d-v5.",
        *(f"- Left out, {env}: {reason}." for env, reason in left_out.items()),
    ]
    # a seed left behind: on Acrobot-v1, seed 3 at (-480 + 500) / 400 = 0.05, below half the IQM of 0.45 x3 and 0.05
    # (the mean of the middle two: 0.45)
    all_data["Acrobot-v1"]["reinforce"] = _runs([-320.0, -320.0, -320.0, -480.0])
    table = [line for line in normalized_section(all_data, random) if line.startswith("| Acrobot-v1 |")]
    assert table == ["| Acrobot-v1 | -500.0 | -100.0 | 0.45 | 0.00 | 1.00 | no | seed 3: 0.05 (no) |"]
    # no random scores at all: every env left out, no crash
    lines = normalized_section(all_data, {})
    assert sum(line.startswith("- Left out, ") for line in lines) == len(all_data)
    assert any(line.startswith("REINFORCE at 0.9 or more on 0 of the 8 envs") for line in lines)


def test_readme_points_to_the_normalized_scores() -> None:
    assert readme_table({})[-1].endswith("(benchmarks/RESULTS.md#normalized-scores).")


def test_every_results_page_has_its_markers_and_a_working_link() -> None:
    """README.md and docs/reinforce.md show the generated table; each page's link resolves from its own folder."""
    for page, root in TABLE_PAGES.items():
        text = page.read_text()
        assert text.index(README_START) < text.index(README_END), page
        link = readme_table({}, root)[-1].split("](")[1].split("#")[0]
        assert (page.parent / link).resolve() == (BENCH_DIR / "RESULTS.md").resolve(), page
