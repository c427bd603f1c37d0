"""RL Zoo integration: registration, the ``sb3-reinforce-zoo`` command, the sampler and the packaged hyperparameters."""

import argparse
import ast
import importlib.util
import inspect
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch as th
import yaml

pytest.importorskip("rl_zoo3", reason="the Zoo integration needs the `zoo` extra: pip install -e '.[zoo]' in a clone")

from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
from rl_zoo3.utils import ALGOS

from sb3_reinforce import REINFORCE
from sb3_reinforce.zoo import enqueue, hyperparams_file, register
from sb3_reinforce.zoo.cli import _train_args, main, storage_url
from sb3_reinforce.zoo.hyperparams_opt import (
    BASELINE_CHOICES,
    SAMPLED_NAMES,
    convert_reinforce_params,
    is_sampled,
    sample_reinforce_params,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGED_YML = Path(str(hyperparams_file()))
#: The marker lines of reinforce.yml: where an entry's values come from (a study's report, runs, or nowhere yet)
YML_MARKERS = ("# Tuned: ", "# From runs: ", "# Untuned: ")
#: The sampled names that are not REINFORCE arguments: a study report gives them as its User Attributes (gamma, n_steps,
#: policy_kwargs and the critic's arguments)
SAMPLED_ONLY = {name for name in SAMPLED_NAMES if name not in inspect.signature(REINFORCE).parameters}


def zoo_env() -> dict[str, str]:
    """Environment of the CLI subprocesses: no display, one thread (the tests share a few cores)."""
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    # The repo first, so that the subprocess imports this checkout
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def start_zoo(*args: str) -> subprocess.Popen:
    """Start ``python -m sb3_reinforce.zoo ARGS...`` (stdout and stderr as text), see :func:`finish_zoo`."""
    return subprocess.Popen(
        [sys.executable, "-m", "sb3_reinforce.zoo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=zoo_env(),
        cwd=REPO_ROOT,
    )


def finish_zoo(process: subprocess.Popen, timeout: float = 120) -> str:
    """Wait for a process of :func:`start_zoo`, fail the test if it failed, and return its stdout."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        command = " ".join(process.args[3:])  # type: ignore[index]
        pytest.fail(f"`{command}` failed ({process.returncode}):\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return stdout


def run_zoo(*args: str) -> str:
    """Run ``python -m sb3_reinforce.zoo ARGS...``, fail the test if it fails, and return its stdout."""
    return finish_zoo(start_zoo(*args))


def test_register_is_idempotent():
    register()
    state = (dict(ALGOS), dict(HYPERPARAMS_SAMPLER), dict(HYPERPARAMS_CONVERTER))
    register()
    assert (dict(ALGOS), dict(HYPERPARAMS_SAMPLER), dict(HYPERPARAMS_CONVERTER)) == state
    assert ALGOS["reinforce"] is REINFORCE
    assert HYPERPARAMS_SAMPLER["reinforce"] is sample_reinforce_params
    assert HYPERPARAMS_CONVERTER["reinforce"] is convert_reinforce_params
    # The Zoo's own algorithms are still there
    assert {"a2c", "ppo", "dqn", "sac"} <= set(ALGOS)


def test_import_sb3_reinforce_does_not_import_rl_zoo3():
    code = "import sys, sb3_reinforce; assert 'rl_zoo3' not in sys.modules, 'rl_zoo3 was imported'; print('ok')"
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=zoo_env(), timeout=60)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "ok"


def test_default_config_only_for_reinforce():
    packaged = str(PACKAGED_YML)
    cases: list[tuple[list[str], bool]] = [
        (["--algo", "reinforce", "--env", "CartPole-v1"], True),
        (["--algo=reinforce", "-n", "100"], True),
        (["--al", "reinforce"], True),  # abbreviation, as the Zoo's parser accepts it
        (["--algo", "reinforce", "-conf", "mine.yml"], False),
        (["--algo", "reinforce", "--conf-file=mine.yml"], False),
        (["--algo", "reinforce", "--conf", "mine.yml"], False),
        (["--algo", "a2c"], False),
        (["--env", "CartPole-v1"], False),  # the Zoo's default algo is ppo
        (["--algo"], False),  # an error, left to the Zoo
    ]
    for args, expect_added in cases:
        with _train_args(args) as new_args:
            if expect_added:
                assert new_args[: len(args)] == args and new_args[len(args) :] == ["--conf-file", packaged], args
                assert Path(new_args[-1]).is_file()
            else:
                assert new_args == args, args


def test_storage_url(monkeypatch):
    import importlib.util

    installed = {"psycopg2"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name in installed else None)
    assert storage_url("postgresql://user@127.0.0.1:5432/db") == "postgresql+psycopg2://user@127.0.0.1:5432/db"
    assert storage_url("postgres://host/db") == "postgresql+psycopg2://host/db"
    for unchanged in ("postgresql+psycopg2://h/db", "postgresql+psycopg://h/db", "sqlite:///study.db", "logs/study.log"):
        assert storage_url(unchanged) == unchanged
    installed.add("psycopg")  # psycopg 3: SQLAlchemy's default driver
    assert storage_url("postgresql://h/db") == "postgresql://h/db"
    with _train_args(["--algo", "a2c", "--storage", "postgresql://h/db"]) as args:
        assert args == ["--algo", "a2c", "--storage", "postgresql://h/db"]
    installed.remove("psycopg")
    with _train_args(["--algo", "a2c", "--storage=postgresql://h/db"]) as args:
        assert args == ["--algo", "a2c", "--storage=postgresql://h/db", "--storage", "postgresql+psycopg2://h/db"]


def test_cli_usage_and_unknown_script(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    scripts = ("train", "enjoy", "record_video", "record_training", "plot_train", "all_plots", "plot_from_file")
    for script in (*scripts, "push_to_hub", "load_from_hub", "-optimize"):
        assert script in out
    with pytest.raises(SystemExit) as exit_info:
        main(["not_a_script"])
    assert exit_info.value.code == 2
    assert "not_a_script" in capsys.readouterr().err


@pytest.mark.slow
def test_train_enjoy_plot(tmp_path):
    """train with the packaged hyperparameters, then enjoy, record_video, plot_train and all_plots on the saved run."""
    log_folder = tmp_path / "logs"
    train_stdout = run_zoo(
        "train",
        "--algo",
        "reinforce",
        "--env",
        "CartPole-v1",
        "-n",
        "2000",
        "-f",
        str(log_folder),
        "--seed",
        "0",
        "--num-threads",
        "1",
        # Two evaluations (every 800 steps, 8 envs): all_plots needs at least two
        "--eval-freq",
        "800",
        "--eval-episodes",
        "2",
    )
    run_dir = log_folder / "reinforce" / "CartPole-v1_1"
    assert (run_dir / "CartPole-v1.zip").is_file(), train_stdout[-2000:]
    assert (run_dir / "evaluations.npz").is_file()
    assert str(PACKAGED_YML) in train_stdout  # "Loading hyperparameters from: ..."
    with open(run_dir / "CartPole-v1" / "config.yml") as file:
        config = dict(yaml.load(file, Loader=yaml.UnsafeLoader))
    with open(PACKAGED_YML) as file:
        entry = yaml.safe_load(file)["CartPole-v1"]
    assert (config["baseline"], config["n_steps"], config["n_envs"]) == (entry["baseline"], entry["n_steps"], entry["n_envs"])
    model = REINFORCE.load(run_dir / "CartPole-v1.zip")
    assert (model.baseline, model.n_steps, model.n_envs) == (entry["baseline"], entry["n_steps"], entry["n_envs"])
    assert model.gamma == entry["gamma"] and model.normalize_advantage == entry["normalize_advantage"]

    # The scripts that read the run, at the same time
    train_png, all_png, results, videos = (
        tmp_path / name for name in ("plot_train.png", "all_plots.png", "results", "videos")
    )
    folder = ["-f", str(log_folder)]
    processes = {
        "enjoy": start_zoo("enjoy", "--algo", "reinforce", "--env", "CartPole-v1", *folder, "--no-render", "-n", "300"),
        "plot_train": start_zoo(
            "plot_train", "--algo", "reinforce", "--env", "CartPole-v1", *folder, "-w", "5", "--savefig", str(train_png)
        ),
        "all_plots": start_zoo(
            "all_plots", "--algos", "reinforce", "--env", "CartPole-v1", *folder, "-o", str(results), "--savefig", str(all_png)
        ),
    }
    record_video = all(importlib.util.find_spec(name) for name in ("moviepy", "pygame"))
    if record_video:
        processes["record_video"] = start_zoo(
            "record_video", "--algo", "reinforce", "--env", "CartPole-v1", *folder, "-n", "100", "-o", str(videos)
        )
    stdout = {name: finish_zoo(process) for name, process in processes.items()}

    assert "Loading" in stdout["enjoy"] and "CartPole-v1.zip" in stdout["enjoy"]
    assert "Episode Reward" in stdout["enjoy"]
    assert train_png.is_file() and train_png.stat().st_size > 0
    assert all_png.is_file() and all_png.stat().st_size > 0
    assert (tmp_path / "results.pkl").is_file()
    assert "REINFORCE" in stdout["all_plots"]  # the Markdown table
    if record_video:
        assert list(videos.glob("final-model-reinforce-CartPole-v1-*.mp4"))


@pytest.mark.slow
def test_optimize(tmp_path):
    """-optimize runs trials and prints the best; --trial-id then trains with a stored trial's hyperparameters."""
    storage = str(tmp_path / "study.log")  # Optuna's journal file storage
    stdout = run_zoo(
        "train",
        "--algo",
        "reinforce",
        "--env",
        "CartPole-v1",
        "-optimize",
        "--n-trials",
        "2",
        "--n-timesteps",
        "2000",
        "--sampler",
        "random",
        "--pruner",
        "none",
        "--no-optim-plots",
        "--eval-episodes",
        "2",
        "--seed",
        "0",
        "--num-threads",
        "1",
        "-f",
        str(tmp_path),
        "--storage",
        storage,
        "--study-name",
        "study",
        # Rollouts of at most 2 * 2048 steps (instead of 8 envs)
        "-params",
        "n_envs:2",
    )
    assert "Number of finished trials:  2" in stdout
    best = stdout.split("Best trial:")[1]
    assert "Params:" in best
    for name in ("learning_rate", "n_steps_pow", "one_minus_gamma", "baseline", "net_arch"):
        assert f"{name}:" in best
    assert list((tmp_path / "reinforce").glob("report_CartPole-v1_2-trials-2000-random-none_*.csv"))

    # The report pasted into a yml entry, as the docs say: the Params and the User Attributes, less the four
    # sampled names that the User Attributes give as REINFORCE arguments (gamma, n_steps, policy_kwargs)
    params, user_attrs = best.split("Params:")[1].split("User Attributes:")
    report_lines = [line.strip() for line in (params + user_attrs).splitlines() if line.startswith("    ")]
    pasted = [line for line in report_lines if line.split(":")[0] not in SAMPLED_ONLY]
    conf = tmp_path / "pasted.yml"
    entry = ["CartPole-v1:", "  n_timesteps: 200", "  policy: 'MlpPolicy'", *(f"  {line}" for line in pasted)]
    conf.write_text("\n".join(entry) + "\n")
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    best_params = optuna.load_study(study_name="study", storage=journal).best_trial.params
    expected = convert_reinforce_params(best_params)
    pasted_args = ["-conf", str(conf), "-f", str(tmp_path / "pasted"), "--eval-freq", "-1"]
    main(["train", "--algo", "reinforce", "--env", "CartPole-v1", *pasted_args])
    model = REINFORCE.load(tmp_path / "pasted" / "reinforce" / "CartPole-v1_1" / "CartPole-v1.zip")
    assert model.n_steps == expected["n_steps"] and model.baseline == expected["baseline"]
    assert np.isclose(model.gamma, expected["gamma"]) and np.isclose(model.ent_coef, expected["ent_coef"])
    assert model.policy_kwargs["net_arch"] == expected["policy_kwargs"]["net_arch"]
    assert model.policy_kwargs["activation_fn"] is expected["policy_kwargs"]["activation_fn"]

    # The Zoo converts the stored params of trial 1 with HYPERPARAMS_CONVERTER["reinforce"]
    # (trial 0 cannot be selected: the Zoo tests `if trial_id`). In this process, to save a start-up.
    trial_params = optuna.load_study(study_name="study", storage=journal).trials[1].params
    expected = convert_reinforce_params(trial_params)
    log_folder = tmp_path / "from_trial"
    args = ["--storage", storage, "--study-name", "study", "--trial-id", "1", "-n", "200", "--eval-freq", "-1"]
    main(["train", "--algo", "reinforce", "--env", "CartPole-v1", "-f", str(log_folder), *args, "-params", "n_envs:1"])
    model = REINFORCE.load(log_folder / "reinforce" / "CartPole-v1_1" / "CartPole-v1.zip")
    assert model.n_steps == expected["n_steps"] and model.baseline == expected["baseline"]
    assert np.isclose(model.gamma, expected["gamma"]) and np.isclose(model.ent_coef, expected["ent_coef"])
    assert model.policy_kwargs["net_arch"] == expected["policy_kwargs"]["net_arch"]


def _report_section(stdout: str, title: str) -> dict[str, str]:
    """The ``name: value`` lines under ``title`` (``Params`` or ``User Attributes``) of the Zoo's best-trial report."""
    lines = stdout.split("Best trial:")[1].split(f"{title}:")[1].splitlines()[1:]
    return dict(line.strip().split(": ", 1) for line in itertools.takewhile(lambda line: line.startswith("    "), lines))


def _python_value(text: str) -> Any:
    """A value as the report prints it (``str()`` of the stored value), back as that value."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a string: value, small, tanh, null


def test_optimize_enqueue_train(tmp_path, capsys):
    """
    The tuning loop of the docs, end to end in this process: ``train -optimize`` with a tiny budget, ``enqueue`` of the
    best trial's Params as the report prints them, then ``train`` with the entry pasted from the report (issue 29).
    """
    storage = str(tmp_path / "study.log")
    study = ["--storage", storage, "--study-name", "study"]
    # Both trials with the value baseline and the critic fitted apart, so that the best one stores every name; short
    # rollouts, so that the 512 steps make several updates
    enqueue.main(
        [
            *study,
            "--trial",
            '{"baseline": "value", "critic_updates": 1, "n_steps_pow": 5, "net_arch": "tiny"}',
            "--trial",
            '{"baseline": "value", "critic_updates": 5, "n_steps_pow": 6, "net_arch": "tiny"}',
        ]
    )
    common = ["--algo", "reinforce", "--env", "CartPole-v1", "--seed", "0", "--num-threads", "1"]
    optimize = ["-optimize", "--n-trials", "2", "--n-timesteps", "512", "--sampler", "random", "--pruner", "none"]
    main(["train", *common, *optimize, "--no-optim-plots", "--eval-episodes", "2", "-f", str(tmp_path), *study,
          "-params", "n_envs:1"])  # fmt: skip
    stdout = capsys.readouterr().out
    assert "Number of finished trials:  2" in stdout
    params = {name: _python_value(value) for name, value in _report_section(stdout, "Params").items()}
    user_attrs = _report_section(stdout, "User Attributes")
    # every name (the best trial fits the critic apart) but log_std_init, which Discrete actions do not have
    assert list(params) == [name for name in SAMPLED_NAMES if name != "log_std_init"]

    # The Params, as printed, enqueued whole in a new study: its first trial samples them back
    enqueue.main(["--storage", storage, "--study-name", "again", "--trial", json.dumps(params)])
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    trial = optuna.load_study(study_name="again", storage=journal).ask()
    sample_reinforce_params(trial, n_actions=0, n_envs=1, additional_args={})
    best_params = optuna.load_study(study_name="study", storage=journal).best_trial.params
    assert trial.params == best_params == params

    # The entry pasted from the report: the User Attributes, and the Params that are REINFORCE arguments
    pasted = [f"  {name}: {value}" for name, value in user_attrs.items()]
    pasted += [f"  {name}: {value}" for name, value in _report_section(stdout, "Params").items() if name not in SAMPLED_ONLY]
    conf = tmp_path / "pasted.yml"
    conf.write_text("\n".join(["CartPole-v1:", "  n_timesteps: 64", "  n_envs: 1", "  policy: 'MlpPolicy'", *pasted]) + "\n")
    main(["train", *common, "-conf", str(conf), "-f", str(tmp_path / "pasted"), "--eval-freq", "-1"])
    model = REINFORCE.load(tmp_path / "pasted" / "reinforce" / "CartPole-v1_1" / "CartPole-v1.zip")
    expected = convert_reinforce_params(best_params)
    for name in ("n_steps", "baseline", "normalize_advantage", "n_critic_updates", "batch_size", "normalize_value_targets"):
        assert getattr(model, name) == expected[name], name
    for name in ("gamma", "ent_coef", "vf_coef", "max_grad_norm", "vf_learning_rate"):
        assert np.isclose(getattr(model, name), expected[name]), name
    assert model.policy_kwargs["net_arch"] == expected["policy_kwargs"]["net_arch"]
    assert model.policy_kwargs["activation_fn"] is expected["policy_kwargs"]["activation_fn"]
    assert model.num_timesteps >= 64


def test_report_values_paste_into_yml():
    """Each stored baseline, as the Zoo's report prints it (``baseline: <value>``), reads back from YAML as REINFORCE's."""
    for choice in BASELINE_CHOICES:
        pasted = yaml.safe_load(f"baseline: {choice}")["baseline"]
        assert pasted == convert_reinforce_params({"baseline": choice})["baseline"], choice
    assert yaml.safe_load(f"baseline: {BASELINE_CHOICES[0]}")["baseline"] is None
    # Studies from older versions stored "none"
    assert convert_reinforce_params({"baseline": "none"})["baseline"] is None


def _fake_run(folder: Path, algo: str, env_id: str, run: int, n_evaluations: int = 3) -> None:
    """A run folder as the Zoo's train writes it, with only its evaluations."""
    run_dir = folder / algo / f"{env_id}_{run}"
    run_dir.mkdir(parents=True)
    timesteps = np.arange(1, n_evaluations + 1) * 1000
    results = np.full((n_evaluations, 2), 100.0 * run)
    np.savez(run_dir / "evaluations.npz", timesteps=timesteps, results=results, ep_lengths=results.astype(int))


def test_all_plots_output_folder_and_missing_runs(tmp_path, capsys):
    """all_plots -o creates the output's folder; an algorithm without runs is an error, not a row of 0.0 +/- 0.0."""
    logs = tmp_path / "logs"
    for run in (1, 2):
        _fake_run(logs, "reinforce", "CartPole-v1", run)
    _fake_run(logs, "a2c", "CartPole-v1", 1, n_evaluations=1)  # the Zoo skips a run with one evaluation
    common = ["-e", "CartPole-v1", "--savefig", str(tmp_path / "all.png"), "-f", str(logs)]
    output = tmp_path / "plots" / "results"
    main(["all_plots", "-a", "reinforce", *common, "-o", str(output)])
    assert output.with_suffix(".pkl").is_file()
    assert "REINFORCE" in capsys.readouterr().out

    with pytest.raises(SystemExit) as exit_info:
        main(["all_plots", "-a", "reinforce", "a2c", "ppo", *common, "-o", str(tmp_path / "other" / "results")])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "no evaluations for A2C on CartPole-v1; PPO on CartPole-v1" in error and "0.0 +/- 0.0" in error

    # With several folders, a folder without the algorithm's runs gets a warning
    _fake_run(tmp_path / "logs2", "reinforce", "CartPole-v1", 1)
    _fake_run(tmp_path / "logs2", "a2c", "CartPole-v1", 1)
    with pytest.warns(UserWarning, match=r"no evaluations for A2C on CartPole-v1 in .*logs:"):
        main(["all_plots", "-a", "reinforce", "a2c", *common, str(tmp_path / "logs2")])


def test_enqueue(tmp_path, capsys):
    """python -m sb3_reinforce.zoo.enqueue: the trials go into the study, under the names the sampler stores."""
    storage = str(tmp_path / "study.log")
    enqueue.main(
        [
            "--storage",
            storage,
            "--study-name",
            "study",
            "--trial",
            '{"learning_rate": 0.001, "baseline": null}',
            "--trial",
            '{"n_steps_pow": 5, "baseline": "none"}',
        ]
    )
    assert capsys.readouterr().out.count("Enqueued in study") == 2
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    study = optuna.load_study(study_name="study", storage=journal)
    fixed = [trial.system_attrs["fixed_params"] for trial in study.trials]
    assert fixed == [{"learning_rate": 0.001, "baseline": "null"}, {"n_steps_pow": 5, "baseline": "null"}]
    # The sampler runs them first, with the enqueued values
    trial = study.ask()
    hyperparams = sample_reinforce_params(trial, n_actions=0, n_envs=1, additional_args={})
    assert hyperparams["learning_rate"] == 0.001 and hyperparams["baseline"] is None
    for bad in ('{"n_steps": 64}', '{"baseline": "nope"}', "[1]"):
        with pytest.raises(ValueError, match="--trial"):
            enqueue.main(["--storage", storage, "--study-name", "study", "--trial", bad])


def _sampled_trial(study: optuna.Study, fixed: dict[str, Any]) -> optuna.Trial:
    """A trial of ``study`` sampled by sample_reinforce_params, with the values of ``fixed`` (the rest at random)."""
    study.enqueue_trial(fixed)
    trial = study.ask()
    sample_reinforce_params(trial, n_actions=0, n_envs=1, additional_args={})
    return trial


def test_enqueue_a_reported_trial(tmp_path, capsys):
    """The Params of any trial the sampler stored, enqueued whole, come back as they were (issue 29)."""
    assert enqueue.SAMPLED_NAMES is SAMPLED_NAMES  # one list of names, which enqueue checks against
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1), direction="maximize")
    reported = _sampled_trial(study, {"baseline": "value", "critic_updates": 5}).params
    # a value baseline with the critic fitted apart stores every name but log_std_init (Discrete actions)
    assert list(reported) == [name for name in SAMPLED_NAMES if name != "log_std_init"]
    storage = str(tmp_path / "study.log")
    enqueue.main(["--storage", storage, "--study-name", "study", "--trial", json.dumps(reported)])
    assert "Enqueued in study" in capsys.readouterr().out
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    trial = optuna.load_study(study_name="study", storage=journal).ask()
    sample_reinforce_params(trial, n_actions=0, n_envs=1, additional_args={})
    assert trial.params == reported

    # A critic parameter that the sampler would not use is an error naming it and the fix, not a silent no-op
    for bad, message in (
        ({"baseline": "mean", "critic_updates": 5}, "critic_updates is sampled only when baseline is one of ['value']"),
        ({"value_target_normalization": True}, "it does not give baseline"),
        ({"baseline": "value", "critic_updates": 0, "critic_learning_rate": 0.001}, "it has critic_updates=0"),
        ({"max_step_kl": 0.1}, "max_step_kl must be one of ['null', 0.002, 0.005, 0.02], got 0.1"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            enqueue.main(["--storage", storage, "--study-name", "study", "--trial", json.dumps(bad)])
    # max_step_kl: null (no bound) is stored as the sampler stores it
    assert enqueue.trial_params('{"max_step_kl": null}') == {"max_step_kl": "null"}


def test_docs_list_the_sampled_names():
    """The table of sampled parameters in docs/reinforce.md lists SAMPLED_NAMES, in order (issue 29)."""
    text = (REPO_ROOT / "docs" / "reinforce.md").read_text()
    section = text.split("## Using with the RL Zoo")[1].split("\n## ")[0]
    table = section.split("| Stored name |")[1].split("\n\n")[0]
    names = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    assert names == list(SAMPLED_NAMES)


@pytest.mark.parametrize(
    "fixed",
    [
        # The trial of the issue: a leave_one_out baseline listed critic_updates: 1 and value_target_normalization: True
        {"baseline": "leave_one_out", "critic_updates": 1, "value_target_normalization": True},
        {"baseline": "null", "critic_updates": 5, "critic_learning_rate": 0.003},
        {"baseline": "value", "critic_updates": 5, "critic_learning_rate": 0.003, "value_target_normalization": True},
        {"baseline": "value", "critic_updates": 0, "critic_learning_rate": 0.003, "value_target_normalization": False},
    ],
    ids=["leave_one_out", "null", "value-apart", "value-joint"],
)
def test_report_params_agree_with_user_attributes(fixed):
    """
    The Zoo's report of a trial lists its Params and User Attributes: the Params hold a critic value only where the
    model uses it, and the User Attributes (the REINFORCE arguments a pasted entry gets) say the same (issue 29).
    """
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    trial = _sampled_trial(study, fixed)  # enqueued as is, through Optuna's enqueue_trial (no checks)
    params = trial.params
    arguments = {name: yaml.safe_load(f"{name}: {value}")[name] for name, value in trial.user_attrs.items()}
    uses_value = params["baseline"] == "value"
    assert ("critic_updates" in params) == uses_value and ("value_target_normalization" in params) == uses_value
    apart = uses_value and params["critic_updates"] > 0
    assert ("critic_learning_rate" in params) == apart and ("critic_batch_size" in params) == apart
    assert arguments["n_critic_updates"] == (params["critic_updates"] if apart else None)
    assert arguments["batch_size"] == ((params["critic_batch_size"] or None) if apart else None)
    assert arguments["vf_learning_rate"] == (params["critic_learning_rate"] if apart else None)
    assert arguments["normalize_value_targets"] is params.get("value_target_normalization", False)
    # The model built from the Params is the one the User Attributes describe
    model = REINFORCE("MlpPolicy", "CartPole-v1", **convert_reinforce_params(params) | {"n_steps": 16})
    for name in ("n_critic_updates", "batch_size", "vf_learning_rate", "normalize_value_targets"):
        assert getattr(model, name) == arguments[name], name


def test_sampler_docstring_describes_the_critic():
    """The sampler's docstring names today's default critic, and the zoo's sources cite only files in the tree."""
    doc = inspect.getdoc(sample_reinforce_params)
    assert doc is not None and "AUTO_CRITIC" in doc and "standardized" in doc
    assert not re.search(r"\bcommit\b", doc)
    for source in (REPO_ROOT / "sb3_reinforce" / "zoo").glob("*.py"):
        for cited in re.findall(r"[\w./-]+/[\w.-]+\.(?:py|md|json|yml|csv)\b", source.read_text()):
            assert (REPO_ROOT / cited).is_file(), f"{source.name} cites {cited}, which is not in the tree"


def test_plot_from_file_single_run(tmp_path, capsys):
    """plot_from_file with one run of an algorithm: an error naming it and what to do, not the Zoo's min() error."""
    logs = tmp_path / "logs"
    _fake_run(logs, "reinforce", "CartPole-v1", 1)
    for run in (1, 2):
        _fake_run(logs, "a2c", "CartPole-v1", run)
    results = tmp_path / "results"
    main(["all_plots", "-a", "reinforce", "a2c", "-e", "CartPole-v1", "-f", str(logs), "-o", str(results), "--savefig",
          str(tmp_path / "all.png")])  # fmt: skip
    capsys.readouterr()
    common = ["plot_from_file", "-i", str(results), "--savefig", str(tmp_path / "from_file.png")]
    with pytest.raises(SystemExit) as exit_info:
        main(common)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    key = f"REINFORCE-{logs}"  # all_plots' key: the algorithm and the folder
    assert f"a single run of {key} on CartPole-v1" in error and "at least 2 runs" in error
    assert f"--skip-keys {key}" in error and "a2c" not in error.split("--skip-keys")[1]
    # The fix it names works
    main([*common, "--skip-keys", key])
    assert list(tmp_path.glob("from_file*.png"))


def test_other_algos_still_work(tmp_path):
    # The CLI in this process (the subprocess runs are tested above)
    main(["train", "--algo", "a2c", "--env", "CartPole-v1", "-n", "300", "-f", str(tmp_path), "--eval-freq", "-1"])
    assert (tmp_path / "a2c" / "CartPole-v1_1" / "CartPole-v1.zip").is_file()


def test_continue_training_from_agent(tmp_path):
    """The Zoo's -i (continue from a trained agent) resumes a REINFORCE model."""
    common = ["--algo", "reinforce", "--env", "CartPole-v1", "-f", str(tmp_path), "--eval-freq", "-1", "--seed", "0"]
    main(["train", *common, "-n", "512"])
    first = tmp_path / "reinforce" / "CartPole-v1_1" / "CartPole-v1.zip"
    trained = REINFORCE.load(first)
    main(["train", *common, "-n", "512", "-i", str(first)])
    resumed = REINFORCE.load(tmp_path / "reinforce" / "CartPole-v1_2" / "CartPole-v1.zip")
    assert resumed.num_timesteps >= 512
    # it started from the trained weights: they changed by training further, but from there
    assert resumed._n_updates > trained._n_updates


def test_unknown_hyperparameter_is_named(tmp_path):
    conf = tmp_path / "bad.yml"
    conf.write_text("CartPole-v1:\n  n_timesteps: 100\n  policy: 'MlpPolicy'\n  gae_lambda: 0.95\n")
    with pytest.raises(TypeError, match="gae_lambda"):
        main(
            [
                "train",
                "--algo",
                "reinforce",
                "--env",
                "CartPole-v1",
                "-conf",
                str(conf),
                "-f",
                str(tmp_path),
                "--eval-freq",
                "-1",
            ]
        )
    assert not list(tmp_path.glob("reinforce/*/*.zip"))


def test_log_std_init_for_continuous_actions():
    """With continuous actions the sampler also samples the Gaussian policy's initial log std, into policy_kwargs."""
    register()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    trial = study.ask()
    hyperparams = sample_reinforce_params(trial, n_actions=1, n_envs=1, additional_args={})
    assert list(trial.params) == [name for name in SAMPLED_NAMES if is_sampled(name, trial.params, continuous=True)]
    log_std_init = trial.params["log_std_init"]
    assert -4 <= log_std_init <= 1 and hyperparams["policy_kwargs"]["log_std_init"] == log_std_init
    assert convert_reinforce_params(trial.params) == hyperparams
    # the report's policy_kwargs, pasted into a yml entry (the Zoo evaluates it with nn in scope), builds that policy
    policy_kwargs = eval(trial.user_attrs["policy_kwargs"], {"nn": th.nn})
    model = REINFORCE("MlpPolicy", "Pendulum-v1", policy_kwargs=policy_kwargs)
    assert th.allclose(model.policy.log_std, th.full((1,), log_std_init))


def test_sampler_and_converter():
    """Sampled hyperparameters build a model, and the converter gives them back from the stored trial params."""
    register()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    baselines, critics, normalized, stored, step_kls = set(), set(), set(), set(), set()
    # enough trials to meet every condition of SAMPLED_WHEN
    for _ in range(48):
        trial = study.ask()
        hyperparams = sample_reinforce_params(trial, n_actions=0, n_envs=1, additional_args={})
        # The names of SAMPLED_NAMES, in their order, less those whose condition (SAMPLED_WHEN) the trial does not meet
        assert list(trial.params) == [name for name in SAMPLED_NAMES if is_sampled(name, trial.params, continuous=False)]
        stored.update(trial.params)
        # the critic fitted apart: with the value baseline only; every critic argument given, none left to "auto"
        separate = trial.params.get("critic_updates", 0) > 0
        critics.add(separate)
        expected = {
            "n_critic_updates": trial.params["critic_updates"] if separate else None,
            "batch_size": (trial.params["critic_batch_size"] or None) if separate else None,
            "vf_learning_rate": trial.params["critic_learning_rate"] if separate else None,
            # standardized value targets: likewise with the value baseline only
            "normalize_value_targets": trial.params.get("value_target_normalization", False),
        }
        normalized.add(expected["normalize_value_targets"])
        for name, value in expected.items():
            assert hyperparams[name] == value, name
            # what the report prints, pasted into a yml entry
            assert yaml.safe_load(f"{name}: {trial.user_attrs[name]}")[name] == value, name
        model = REINFORCE("MlpPolicy", "CartPole-v1", **hyperparams)
        assert (model.n_critic_updates, model.normalize_value_targets) == (
            expected["n_critic_updates"],
            expected["normalize_value_targets"],
        )
        assert set(hyperparams) - set(expected) == {
            "learning_rate",
            "n_steps",
            "gamma",
            "baseline",
            "normalize_advantage",
            "ent_coef",
            "vf_coef",
            "max_grad_norm",
            "max_step_kl",
            "policy_kwargs",
        }
        # the bound on the policy's step: None ("null", as a pasted yml entry reads it) or a KL divergence
        assert hyperparams["max_step_kl"] == yaml.safe_load(f"max_step_kl: {trial.params['max_step_kl']}")["max_step_kl"]
        step_kls.add(hyperparams["max_step_kl"])
        assert 0.9 <= hyperparams["gamma"] < 1 and 16 <= hyperparams["n_steps"] <= 2048
        assert 1e-3 <= hyperparams["vf_coef"] <= 1 and 0.3 <= hyperparams["max_grad_norm"] <= 100
        assert trial.user_attrs["n_steps"] == hyperparams["n_steps"]
        baselines.add(hyperparams["baseline"])
        # What --trial-id loads from a storage
        assert convert_reinforce_params(trial.params) == hyperparams
        study.tell(trial, 0.0)
    assert None in baselines and baselines <= {None, "value", "mean", "leave_one_out"}
    assert critics == {True, False} and normalized == {True, False}
    assert step_kls == {None, 0.002, 0.005, 0.02}
    # everything but log_std_init, which Discrete actions do not have
    assert stored == set(SAMPLED_NAMES) - {"log_std_init"}

    model = REINFORCE("MlpPolicy", "CartPole-v1", **hyperparams)
    assert model.n_steps == hyperparams["n_steps"] and model.baseline == hyperparams["baseline"]


def test_converter_reads_trials_stored_by_0_1_0():
    """
    0.1.0's sampler also stored ``value_clip_apart`` (it set ``vf_max_grad_norm``, removed since) in trials fitted
    jointly: False is what the joint fit does today, True cannot be rebuilt and says so.
    """
    stored = {"baseline": "value", "critic_updates": 0, "max_grad_norm": 0.5, "value_target_normalization": False}
    assert convert_reinforce_params(stored | {"value_clip_apart": False}) == convert_reinforce_params(stored)
    with pytest.raises(ValueError, match=r"value_clip_apart=True .* vf_max_grad_norm, which was removed after 0.1.0"):
        convert_reinforce_params(stored | {"value_clip_apart": True})


def _entry_env_ids() -> list[Any]:
    with open(PACKAGED_YML) as file:
        entries = yaml.safe_load(file)
    env_ids = {"default": "FrozenLake-v1", "atari": "PongNoFrameskip-v4"}
    return [pytest.param(key, env_ids.get(key, key), id=key) for key in entries]


def test_every_entry_is_marked():
    """
    The comment block just above each entry holds exactly one marker line, ``# Tuned: <report>``,
    ``# From runs: <where>`` or ``# Untuned: <what>``, with text after the colon.
    """
    lines = PACKAGED_YML.read_text().splitlines()
    marked = []
    for index, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):
            block = []
            for previous in reversed(lines[:index]):
                if not previous.startswith("#"):
                    break
                block.append(previous)
            found = [comment for comment in block if comment.startswith(YML_MARKERS)]
            assert len(found) == 1, f"{line} needs exactly one of {YML_MARKERS}, has {found}"
            assert found[0].partition(": ")[2].strip(), f"{line}: the marker says nothing after its colon"
            marked.append(line.partition(":")[0])
    with open(PACKAGED_YML) as file:
        assert marked == list(yaml.safe_load(file)), "every top-level key is an entry with a marker"


def _skip_if_missing(entry: str, env_id: str) -> None:
    if entry in ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5"):
        pytest.importorskip("mujoco", reason="MuJoCo envs need gymnasium[mujoco]")
    if entry == "atari":
        ale_py = pytest.importorskip("ale_py", reason="Atari envs need ale-py")
        import gymnasium as gym

        gym.register_envs(ale_py)
        try:
            gym.make(env_id).close()
        except (gym.error.DependencyNotInstalled, ImportError) as error:  # only a missing package: any other error fails
            pytest.skip(f"{env_id} cannot be made: {error}")


@pytest.mark.parametrize("entry, env_id", _entry_env_ids())
def test_hyperparams_entry_builds_model(entry, env_id, tmp_path, monkeypatch):
    """Each entry of the packaged reinforce.yml goes through the Zoo's processing and builds a model (no training)."""
    monkeypatch.chdir(tmp_path)  # MuJoCo writes its warnings to MUJOCO_LOG.TXT in the working directory
    _skip_if_missing(entry, env_id)
    register()
    with open(PACKAGED_YML) as file:
        raw = yaml.safe_load(file)[entry]
    manager = ExperimentManager(
        argparse.Namespace(),
        "reinforce",
        env_id,
        str(tmp_path),
        eval_freq=-1,
        config=str(PACKAGED_YML),
        seed=0,
        verbose=0,
        device="cpu",
    )
    assert manager._is_atari == (entry == "atari")
    results = manager.setup_experiment()
    assert results is not None
    model, saved_hyperparams = results
    try:
        assert isinstance(model, REINFORCE)
        assert dict(saved_hyperparams) == raw
        assert model.n_envs == raw.get("n_envs", 1)
        assert manager.n_timesteps == int(raw["n_timesteps"])
        for key in ("n_steps", "baseline", "normalize_advantage", "ent_coef", "vf_coef", "max_grad_norm", "use_sde"):
            if key in raw:
                assert getattr(model, key) == raw[key], key
        if "gamma" in raw:
            assert np.isclose(model.gamma, raw["gamma"])
        assert (model.get_vec_normalize_env() is not None) == bool(raw.get("normalize", False))
        assert model.policy is not None
        # The env the entry builds (wrappers, frame stack, normalization) runs with the policy
        assert model.env is not None
        obs = model.env.reset()
        actions, _ = model.predict(obs)
        model.env.step(actions)
    finally:
        assert model.env is not None
        model.env.close()
