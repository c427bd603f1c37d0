"""``common.py``: the harness's provenance (hashes, the dirty-tree refusal, the flags that analyze.py reports) and scope."""

from pathlib import Path

import common
import pytest


def test_targets_are_the_readme_targets() -> None:
    targets = {env: spec.target for env, spec in common.SCOPE.items()}
    assert targets == {
        "CartPole-v1": 475.0,
        "Acrobot-v1": -85.0,
        "LunarLander-v3": 200.0,
        "Pendulum-v1": -250.0,
        "HalfCheetah-v5": 3000.0,
        "Hopper-v5": 2000.0,
        "Walker2d-v5": 2000.0,
        "Ant-v5": 1500.0,
    }


def test_peer_runs_are_not_flagged_for_our_code() -> None:
    record = {"code_sha256": "old", "entry_sha256": "entry"}
    # A2C and PPO train with SB3's code: a change of sb3_reinforce/ leaves their runs valid, not REINFORCE's
    for algo, expected in (("a2c", []), ("ppo", []), ("reinforce", ["code differs from this tree"])):
        assert common.provenance_issues(record, {}, common.code_check(algo, "new"), "entry") == expected


def test_fingerprinted_code_hashes_are_accepted(tmp_path: Path) -> None:
    """Runs of a code hash that fingerprint.py showed to train as the current code does are not flagged; others are."""
    path = tmp_path / "training_fingerprints.json"
    path.write_text('[{"code_sha256": "b", "same_training_as": "a"}, {"code_sha256": "c", "same_training_as": "b"}]')
    assert common.accepted_code_hashes("c", path) == {"a", "b", "c"}
    assert common.accepted_code_hashes("a", path) == {"a", "b", "c"}
    assert common.accepted_code_hashes("d", path) == {"d"}
    assert common.accepted_code_hashes("d", tmp_path / "none.json") == {"d"}
    accepted = common.code_check("reinforce", "c", path)
    for code, issues in (("a", []), ("c", []), ("d", ["code differs from this tree"])):
        assert common.provenance_issues({"code_sha256": code, "entry_sha256": "e"}, {}, accepted, "e") == issues


def test_entry_hash_is_canonical() -> None:
    assert common.entry_hash({"a": 1, "b": [1, 2]}) == common.entry_hash({"b": [1, 2], "a": 1})
    assert common.entry_hash({"a": 1}) != common.entry_hash({"a": 2})


def test_code_hash_sees_every_change(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "sub" / "b.py").write_text("y = 2\n")
    (tmp_path / "notes.txt").write_text("not code")
    first = common.code_hash(tmp_path)
    assert common.code_hash(tmp_path) == first
    (tmp_path / "notes.txt").write_text("still not code")
    assert common.code_hash(tmp_path) == first
    (tmp_path / "sub" / "b.py").write_text("y = 3\n")
    changed = common.code_hash(tmp_path)
    assert changed != first
    (tmp_path / "c.py").write_text("")
    assert common.code_hash(tmp_path) != changed
    # the same contents under another name is another tree
    (tmp_path / "c.py").unlink()
    (tmp_path / "sub" / "b.py").rename(tmp_path / "sub" / "d.py")
    assert common.code_hash(tmp_path) != changed


def test_a_dirty_tree_is_refused_with_the_files_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "dirty_files", lambda: ["sb3_reinforce/reinforce/reinforce.py"])
    monkeypatch.setattr(common, "tree_diff", lambda: "diff --git a/x b/x\n")
    with pytest.raises(RuntimeError, match=r"reinforce\.py.*Commit them first.*--allow-dirty"):
        common.provenance("CartPole-v1", "reinforce")
    record, diff = common.provenance("CartPole-v1", "reinforce", allow_dirty=True)
    assert diff == "diff --git a/x b/x\n"
    assert record["git_dirty"] is True
    assert record["dirty_files"] == ["sb3_reinforce/reinforce/reinforce.py"]
    assert record["diff_sha256"] == common.sha256_text(diff)
    assert record["entry_sha256"] == common.entry_hash(common.hyperparams_entry("CartPole-v1", "reinforce"))
    assert record["code_sha256"] == common.code_hash()
    # a clean tree: no diff, nothing flagged against the same tree
    monkeypatch.setattr(common, "dirty_files", lambda: [])
    record, diff = common.provenance("CartPole-v1", "reinforce")
    assert diff == "" and record["git_dirty"] is False and "diff_sha256" not in record
    assert common.provenance_issues(record, {}, record["code_sha256"], record["entry_sha256"]) == []


def test_provenance_issues() -> None:
    issues, code = common.provenance_issues, frozenset({"code"})
    # runs made before start-time provenance: only done.json, with or without a commit taken at the end
    assert issues(None, {}, code, "entry") == ["no provenance: no commit recorded"]
    assert issues(None, {"git_commit": "abc"}, code, "entry") == ["recorded at end, not at start"]
    assert issues(None, {"git_commit": "abc+dirty"}, code, "entry") == ["recorded at end, not at start", "dirty"]
    record = {"git_dirty": False, "code_sha256": "code", "entry_sha256": "entry"}
    assert issues(record, {}, code, "entry") == []
    assert issues(record, {}, frozenset({"other code"}), "entry") == ["code differs from this tree"]
    assert issues(record, {}, code, "other entry") == ["hyperparameter entry differs from this tree"]
    dirty = {**record, "git_dirty": True, "diff_sha256": "0123456789abcdef"}
    assert issues(dirty, {}, code, "entry") == ["dirty (diff sha256 0123456789ab)"]


def test_the_zoo_a2c_mujoco_entries_are_sb3_defaults() -> None:
    # What RESULTS.md states about A2C on HalfCheetah-v5 and Hopper-v5: the Zoo's entry sets no A2C argument
    for env in ("HalfCheetah-v5", "Hopper-v5"):
        assert set(common.hyperparams_entry(env, "a2c")) <= {"policy", "n_timesteps", "normalize", "n_envs"}
        assert common.hyperparams_entry(env, "a2c")["normalize"] is True
        # PPO's entry is a tuned one
        assert "learning_rate" in common.hyperparams_entry(env, "ppo")
