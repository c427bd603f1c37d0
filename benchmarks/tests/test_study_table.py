"""``study_table.py``: the trials of a study, best first, with their per-seed scores."""

import optuna
import study_table


def test_table_orders_completed_trials_by_score(tmp_path) -> None:
    path = str(tmp_path / "study.log")
    study = optuna.create_study(study_name="s", storage=study_table.storage(path), direction="maximize")
    for value, seed_scores in ((10.0, [5.0, 15.0]), (30.0, [25.0, 35.0])):
        trial = study.ask()
        trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        trial.set_user_attr("seed_scores", seed_scores)
        study.tell(trial, value)
    pruned = study.ask()
    study.tell(pruned, state=optuna.trial.TrialState.PRUNED)
    lines = study_table.table(optuna.load_study(study_name="s", storage=study_table.storage(path)))
    assert [line.split(" | ")[0:3] for line in lines[2:]] == [["| 1", "complete", "30.0"], ["| 0", "complete", "10.0"],
                                                            ["| 2", "pruned", ""]]  # fmt: skip
    assert "| 25.0, 35.0 | learning_rate: " in lines[2]
