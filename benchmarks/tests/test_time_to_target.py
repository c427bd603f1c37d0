"""The time to target: ``time_to_target.py`` (runs, summary, resuming) and what RESULTS.md shows of it."""

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import run_data
import tables
import throughput
import time_to_target


def test_run_to_target_stops_at_the_cap() -> None:
    # 8 envs: 2,500 is not a multiple of 8, the cap's evaluation comes at the first step past it
    row = time_to_target.run_to_target("a2c", 8, 0, target=float("inf"), eval_freq=1000, max_steps=2500, n_eval_episodes=2)
    assert [evaluation[0] for evaluation in row["evaluations"]] == [1000, 2000, 2504]
    assert row["steps"] == 2504
    assert not row["reached"] and row["steps_to_target"] is None and row["seconds_to_target"] is None
    assert row["best_score"] == max(evaluation[2] for evaluation in row["evaluations"])
    assert row["best_at"] in (1000, 2000, 2504)
    seconds = [evaluation[1] for evaluation in row["evaluations"]]
    assert 0 < seconds[0] < seconds[1] < seconds[2] <= row["train_s"]
    assert row["eval_s"] > 0


def test_run_to_target_stops_at_the_target() -> None:
    # every CartPole-v1 episode returns at least 1: the first evaluation reaches 1
    row = time_to_target.run_to_target("reinforce_joint", 1, 0, target=1.0, eval_freq=500, max_steps=2000, n_eval_episodes=2)
    assert len(row["evaluations"]) == 1
    assert row["reached"] and row["steps_to_target"] == row["steps"] == 500
    assert row["seconds_to_target"] == row["evaluations"][0][1] > 0


def test_summary_counts_a_miss_as_infinite() -> None:
    rows = [
        {"algo": "a2c", "n_envs": 1, "seed": 2, "reached": True, "steps_to_target": 20_000, "seconds_to_target": 9.0},
        {"algo": "a2c", "n_envs": 1, "seed": 0, "reached": True, "steps_to_target": 10_000, "seconds_to_target": 5.0},
        {"algo": "a2c", "n_envs": 1, "seed": 1, "reached": False, "steps_to_target": None, "seconds_to_target": None},
        {"algo": "reinforce", "n_envs": 8, "seed": 0, "reached": False, "steps_to_target": None, "seconds_to_target": None},
    ]
    # TARGET_ALGOS's order: reinforce first
    assert time_to_target.summarize(rows) == [
        {
            "algo": "reinforce",
            "n_envs": 8,
            "seeds": [0],
            "reached": 0,
            "steps_to_target": {"median": None, "min": None, "max": None},
            "seconds_to_target": {"median": None, "min": None, "max": None},
        },
        {
            "algo": "a2c",
            "n_envs": 1,
            "seeds": [0, 1, 2],
            "reached": 2,
            # median of 10k, 20k and infinity
            "steps_to_target": {"median": 20_000.0, "min": 10_000.0, "max": None},
            "seconds_to_target": {"median": 9.0, "min": 5.0, "max": None},
        },
    ]
    assert time_to_target.spread([4.0, None]) == {"median": None, "min": 4.0, "max": None}
    assert time_to_target.rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert time_to_target.rotated(["a", "b", "c"], 4) == ["b", "c", "a"]


def _fake_run(calls: list[tuple[str, int, int]]) -> Any:
    def run_to_target(algo: str, n_envs: int, seed: int, target: float, *_: Any) -> dict[str, Any]:
        calls.append((algo, n_envs, seed))
        steps = 5000 * (seed + 1)
        return {
            "algo": algo,
            "n_envs": n_envs,
            "seed": seed,
            "reached": True,
            "steps_to_target": steps,
            "seconds_to_target": 1.0,
        }

    return run_to_target


def test_runs_are_interleaved_and_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int, int]] = []
    monkeypatch.setattr(time_to_target, "run_to_target", _fake_run(calls))
    monkeypatch.setattr(time_to_target, "dirty_files", lambda: [])
    output = tmp_path / "ttt.json"
    parser = throughput.make_parser()
    args = parser.parse_args(
        ["time-to-target", "--seeds", "0", "1", "--algos", "a2c", "ppo", "reinforce", "--output", str(output)]
    )
    assert (args.target, args.eval_freq, args.max_steps, args.n_envs_list) == (475.0, 5000, 100_000, [1, 8])
    result = time_to_target.measure(args)
    # per seed, each n_envs, the algorithms in an order rotated by the seed
    order = ["a2c", "ppo", "reinforce"]
    assert calls == [(algo, n, 0) for n in (1, 8) for algo in order] + [
        (algo, n, 1) for n in (1, 8) for algo in ["ppo", "reinforce", "a2c"]
    ]
    assert json.loads(output.read_text()) == result
    assert [row["position"] for row in result["runs"][:3]] == [0, 1, 2]
    assert result["settings"]["algos"]["reinforce_joint"] == {"class": "REINFORCE", "kwargs": {"n_critic_updates": None}}
    assert result["commands"] == [
        "python benchmarks/throughput.py time-to-target --seeds 0 1 --n-envs-list 1 8 --algos a2c ppo reinforce "
        f"--target 475 --eval-freq 5000 --max-steps 100000 --eval-episodes 10 --output {output}"
    ]
    assert [(entry["algo"], entry["n_envs"]) for entry in result["summary"]] == [
        (algo, n) for algo in ("reinforce", "a2c", "ppo") for n in (1, 8)
    ]
    assert result["summary"][0]["steps_to_target"] == {"median": 7500.0, "min": 5000.0, "max": 10_000.0}
    # resumed: only the runs not in the file yet
    calls.clear()
    args = parser.parse_args(["time-to-target", "--seeds", "0", "1", "2", "--algos", "a2c", "--output", str(output)])
    result = time_to_target.measure(args)
    assert calls == [("a2c", 1, 2), ("a2c", 8, 2)]
    assert len(result["runs"]) == 14 and len(result["commands"]) == 2
    calls.clear()
    assert time_to_target.measure(args) == result and calls == []
    # other settings, a tuning seed, a dirty tree: refused
    with pytest.raises(RuntimeError, match=r"target=475\.0, not 400\.0: pass another --output"):
        time_to_target.measure(parser.parse_args(["time-to-target", "--target", "400", "--output", str(output)]))
    with pytest.raises(ValueError, match="tuning seeds"):
        time_to_target.measure(parser.parse_args(["time-to-target", "--seeds", "0", "100", "--output", str(output)]))
    monkeypatch.setattr(time_to_target, "dirty_files", lambda: ["sb3_reinforce/reinforce/reinforce.py"])
    with pytest.raises(RuntimeError, match=r"reinforce\.py\. Commit them first, or pass --allow-dirty"):
        time_to_target.measure(args)
    assert calls == []


@pytest.mark.slow
def test_time_to_target_smoke(tmp_path: Path) -> None:
    """Every configuration at 1 and 8 envs, 2k steps, a target lowered to 30; then RESULTS.md's section of it."""
    output = tmp_path / "time_to_target.json"
    options = ["--seeds", "0", "--eval-freq", "1000", "--max-steps", "2000", "--target", "30", "--eval-episodes", "3"]
    args = throughput.make_parser().parse_args(["time-to-target", *options, "--allow-dirty", "--output", str(output)])
    result = time_to_target.measure(args)
    assert {(row["algo"], row["n_envs"]) for row in result["runs"]} == {
        (algo, n) for algo in time_to_target.TARGET_ALGOS for n in (1, 8)
    }
    for row in result["runs"]:
        last = row["evaluations"][-1]
        assert row["steps"] == last[0] <= 2000
        assert row["reached"] == (last[2] >= 30) and (row["steps_to_target"] == last[0]) == row["reached"]
    lines = tables.side_by_side_section(output)
    assert lines[0] == "## Time to target, side by side"
    rows = ("| reinforce |", "| reinforce_joint |", "| reinforce_5passes |", "| a2c |", "| ppo |")
    assert sum(line.startswith(rows) for line in lines) == 10


def test_analyze_time_to_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-made run: its time to target is ``time.csv`` interpolated at its steps to target."""
    folder = tmp_path / "CartPole-v1" / "reinforce" / "seed3"
    folder.mkdir(parents=True)
    # means of 10 episodes: 100 at 5k, 475 at 10k (the first >= 475), 400 at 15k, 500 at 20k
    results = np.array([[100.0] * 10, [470.0, 480.0] * 5, [400.0] * 10, [500.0] * 10])
    np.savez(
        folder / "evaluations.npz", timesteps=np.array([5000, 10_000, 15_000, 20_000]), results=results, ep_lengths=results
    )
    (folder / "done.json").write_text(json.dumps({"wall_clock_s": 18.0, "steps_per_s": 1111}))
    # episodes ending at 2k, 8k, 12k and 20k cumulative steps
    (folder / "time.csv").write_text("steps,time_s\n2000,1.0\n8000,4.0\n12000,10.0\n20000,18.0\n")
    monkeypatch.setattr(run_data, "DATA_DIR", tmp_path)
    [run] = run_data.load_runs("CartPole-v1", "reinforce")
    assert run_data.first_reach(run, 475.0) == 10_000
    # 10k lies halfway between 8k (4.0 s) and 12k (10.0 s)
    assert run_data.time_to_target(run, 475.0) == pytest.approx(7.0)
    # 5k lies halfway between 2k (1.0 s) and 8k (4.0 s)
    assert run_data.time_to_target(run, 100.0) == pytest.approx(2.5)
    assert run_data.time_to_target(run, 501.0) == float("inf")
    assert run_data.fmt_reach(run, 475.0) == "10k in 7 s"
    assert run_data.fmt_reach(run, 501.0) == "not reached"
    # RESULTS.md's per-seed table, at CartPole-v1's target (475)
    [row] = tables.per_seed_section({"CartPole-v1": {"reinforce": [run]}}, {("CartPole-v1", "reinforce", 3): []})[2:]
    assert row.startswith("| CartPole-v1 | reinforce | 3: 500.0 (500) | 3: 10k in 7 s | none (seeds 3) |")
    assert (run_data.fmt_seconds(7.0), run_data.fmt_seconds(150.0), run_data.fmt_seconds(float("inf"))) == (
        "7 s",
        "2.5 min",
        "not reached",
    )


def test_analyze_shows_the_side_by_side_summary(tmp_path: Path) -> None:
    assert tables.side_by_side_section(tmp_path / "missing.json") == []
    rows = [
        {
            "algo": "ppo",
            "n_envs": 8,
            "seed": seed,
            "reached": steps is not None,
            "steps_to_target": steps,
            "seconds_to_target": s,
        }
        for seed, (steps, s) in enumerate([(15_000, 12.3), (None, None), (12_500, 8.0)])
    ]
    path = tmp_path / "time_to_target.json"
    settings = {"env": "CartPole-v1", "target": 475.0, "eval_freq": 5000, "max_steps": 100_000, "n_eval_episodes": 10}
    algos = {
        "ppo": {"class": "PPO", "kwargs": {}},
        "reinforce_joint": {"class": "REINFORCE", "kwargs": {"n_critic_updates": None}},
    }
    result = {
        "commit": "0123456789abcdef",
        "dirty_files": [],
        "system": {"torch": "2.0", "cpu": "test CPU (2 cores)"},
        "commands": ["python benchmarks/throughput.py time-to-target"],
        "settings": {**settings, "algos": algos},
        "summary": time_to_target.summarize(rows),
        "runs": rows,
    }
    path.write_text(json.dumps(result))
    lines = tables.side_by_side_section(path)
    assert lines[-2] == "| ppo | 8 | 0-2 | 2/3 | 15k [12.5k, not reached] | 12.3 [8.0, not reached] |"
    assert "commit 0123456; sb3_reinforce ?, stable_baselines3 ?, torch 2.0, cpu test CPU (2 cores)" in lines[4]
    assert "`reinforce_joint`: REINFORCE(n_critic_updates=None)" in lines[2]
