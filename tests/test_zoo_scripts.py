"""
The RL Zoo scripts that ``sb3-reinforce-zoo`` runs beyond train/enjoy/plots: record_training, push_to_hub and
load_from_hub (up to the network: the Hub's calls are stubbed), and module paths found in the current folder.
"""

import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rl_zoo3", reason="the Zoo integration needs the `zoo` extra: pip install -e '.[zoo]' in a clone")

import huggingface_hub
from huggingface_hub import HfApi, errors

from sb3_reinforce import REINFORCE
from sb3_reinforce.zoo.cli import main
from tests.test_zoo import zoo_env

ENV_ID = "CartPole-v1"
ORGANIZATION = "someone"
REPO_NAME = f"reinforce-{ENV_ID}"
#: What the Hub's client raises where huggingface.co cannot be resolved (closed network)
NO_NETWORK = "[Errno -2] Name or service not known"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log folder with one REINFORCE run on CartPole-v1 (one rollout, no evaluation): ``<folder>/reinforce/CartPole-v1_1``"""
    folder = tmp_path_factory.mktemp("logs")
    main(["train", "--algo", "reinforce", "--env", ENV_ID, "-n", "256", "-f", str(folder), "--eval-freq", "-1", "--seed", "0"])
    assert (folder / "reinforce" / f"{ENV_ID}_1" / f"{ENV_ID}.zip").is_file()
    return folder


def _connection_error() -> Exception:
    """The error the Hub's HTTP client (httpx, or requests in older huggingface_hub) raises on a closed network."""
    for name in ("httpx2", "httpx"):
        if name in sys.modules:
            return sys.modules[name].ConnectError(NO_NETWORK)
    import requests

    return requests.exceptions.ConnectionError(NO_NETWORK)


def _not_on_hub(filename: str) -> Exception:
    """What ``hf_hub_download`` raises for a file that is not in the repository (a 404)."""
    url = f"https://huggingface.co/{ORGANIZATION}/{REPO_NAME}/resolve/main/{filename}"
    if "httpx2" in sys.modules or "httpx" in sys.modules:
        httpx = sys.modules.get("httpx2") or sys.modules["httpx"]
        return errors.RemoteEntryNotFoundError(f"404: {url}", response=httpx.Response(404, request=httpx.Request("HEAD", url)))
    return errors.EntryNotFoundError(f"404: {url}")  # huggingface_hub < 1.0 (a requests.HTTPError)


def test_record_training(trained_run, monkeypatch):
    """record_training's record_video children load REINFORCE (through the plug-in); the Zoo's outputs are made."""
    for name in ("moviepy", "pygame"):
        pytest.importorskip(name, reason="videos need moviepy and pygame")
    for name, value in zoo_env().items():  # the children: one thread, this checkout
        monkeypatch.setenv(name, value)
    videos = trained_run / "reinforce" / f"{ENV_ID}_1" / "videos"
    main(["record_training", "--algo", "reinforce", "--env", ENV_ID, "-f", str(trained_run), "-n", "20", "-g"])
    assert list(videos.glob(f"final-model-reinforce-{ENV_ID}-*.mp4")), "the record_video child did not record"
    assert (videos / "training.mp4").stat().st_size > 0
    assert (videos / "training.gif").stat().st_size > 0
    assert not list(videos.glob("*_with_text.mp4"))  # the Zoo's temporary files are gone: it ran to the end


def test_push_to_hub_up_to_the_upload(trained_run, tmp_path, monkeypatch):
    """push_to_hub evaluates, records a replay, writes the model card and the folder; the Hub's calls are stubbed."""
    monkeypatch.chdir(tmp_path)  # the Zoo prepares the upload in ./hub/<repo name>
    uploaded: dict[str, list[str]] = {}

    def create_repo(self, repo_id: str, **kwargs) -> str:
        return f"https://huggingface.co/{repo_id}"

    def snapshot_download(self, repo_id: str, local_dir: Path, **kwargs) -> str:
        Path(local_dir).mkdir(parents=True, exist_ok=True)  # a new, empty repository
        return str(local_dir)

    def upload_folder(self, repo_id: str, folder_path: Path, **kwargs) -> None:
        uploaded[repo_id] = sorted(path.name for path in Path(folder_path).iterdir())

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "snapshot_download", snapshot_download)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    main(["push_to_hub", "--algo", "reinforce", "--env", ENV_ID, "-f", str(trained_run), "-orga", ORGANIZATION, "-n", "20"])

    repo = tmp_path / "hub" / REPO_NAME
    expected = {f"{REPO_NAME}.zip", "README.md", "config.yml", "args.yml", "env_kwargs.yml", "results.json"}
    expected |= {"train_eval_metrics.zip"}
    assert expected <= set(uploaded[f"{ORGANIZATION}/{REPO_NAME}"])
    readme = (repo / "README.md").read_text()
    assert f"# **REINFORCE** Agent playing **{ENV_ID}**" in readme
    assert "mean_reward" in readme.split("---")[1]  # the metadata block of the model card
    assert isinstance(REINFORCE.load(repo / f"{REPO_NAME}.zip"), REINFORCE)
    assert json.loads((repo / "results.json").read_text())["n_eval_episodes"] == 10
    with zipfile.ZipFile(repo / "train_eval_metrics.zip") as archive:
        assert any(name.endswith("monitor.csv") for name in archive.namelist())
    if importlib.util.find_spec("moviepy") is not None:
        assert (repo / "replay.mp4").stat().st_size > 0

    # load_from_hub, from that folder: the download is stubbed
    def hf_hub_download(repo_id: str, filename: str, **kwargs) -> str:
        assert repo_id == f"{ORGANIZATION}/{REPO_NAME}"
        if not (repo / filename).is_file():
            raise _not_on_hub(filename)
        return str(repo / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setenv("TRUST_REMOTE_CODE", "True")
    main(["load_from_hub", "--algo", "reinforce", "--env", ENV_ID, "-f", "downloaded", "-orga", ORGANIZATION])
    run = tmp_path / "downloaded" / "reinforce" / f"{ENV_ID}_1"
    assert isinstance(REINFORCE.load(run / f"{ENV_ID}.zip"), REINFORCE)
    with open(run / ENV_ID / "config.yml") as file:
        assert dict(yaml.load(file, Loader=yaml.UnsafeLoader))["policy"] == "MlpPolicy"
    assert not (run / ENV_ID / "vecnormalize.pkl").exists()  # no vec_normalize.pkl on the "Hub": no normalization
    main(["enjoy", "--algo", "reinforce", "--env", ENV_ID, "-f", "downloaded", "--no-render", "-n", "20"])


def test_hub_unreachable(trained_run, tmp_path, monkeypatch, capsys):
    """Without the network, push_to_hub and load_from_hub stop with an error naming the cause."""
    monkeypatch.chdir(tmp_path)

    def unreachable(*args, **kwargs):
        raise _connection_error()

    monkeypatch.setattr(HfApi, "create_repo", unreachable)
    with pytest.raises(SystemExit) as exit_info:
        main(["push_to_hub", "--algo", "reinforce", "--env", ENV_ID, "-f", str(trained_run), "-orga", ORGANIZATION])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "push_to_hub: error: the Hugging Face Hub could not be reached" in error
    assert NO_NETWORK in error and "HF_TOKEN" in error and "Traceback" not in error

    args = ["load_from_hub", "--algo", "reinforce", "--env", ENV_ID, "-f", "downloaded", "-orga", ORGANIZATION]
    monkeypatch.delenv("TRUST_REMOTE_CODE", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "TRUST_REMOTE_CODE" in capsys.readouterr().err

    def offline(*args, **kwargs):
        raise errors.LocalEntryNotFoundError("Cannot find the requested files in the local cache; check your connection.")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.setenv("TRUST_REMOTE_CODE", "True")
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "load_from_hub: error: the Hugging Face Hub could not be reached" in error and "LocalEntryNotFoundError" in error
    assert not (tmp_path / "downloaded").exists()


def test_conf_module_path_in_current_folder(tmp_path, monkeypatch):
    """-conf hyperparams.python.X (a module path) is found in the current folder, as with `python train.py`."""
    package = tmp_path / "project" / "hyperparams" / "python"
    package.mkdir(parents=True)
    (package / "reinforce_conf_test.py").write_text(
        f"hyperparams = {{'{ENV_ID}': dict(policy='MlpPolicy', n_timesteps=64, n_envs=2, n_steps=32)}}\n"
    )
    monkeypatch.chdir(tmp_path / "project")
    cwd = str(tmp_path / "project")
    # As from the installed command: the current folder is not on sys.path ("" would be)
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", ".", cwd)])
    saved_path = list(sys.path)
    try:
        main(["train", "--algo", "reinforce", "--env", ENV_ID, "-conf", "hyperparams.python.reinforce_conf_test"])
    finally:
        for name in [name for name in sys.modules if name == "hyperparams" or name.startswith("hyperparams.")]:
            del sys.modules[name]
    assert sys.path == saved_path  # restored
    with open(tmp_path / "project" / "logs" / "reinforce" / f"{ENV_ID}_1" / ENV_ID / "config.yml") as file:
        config = dict(yaml.load(file, Loader=yaml.UnsafeLoader))
    assert (config["n_envs"], config["n_steps"]) == (2, 32)


def test_trial_seeds(tmp_path, capsys):
    """-optimize --trial-seeds 100 101: each trial trains on seeds 100 and 101, and scores their mean."""
    import optuna
    from rl_zoo3.exp_manager import ExperimentManager
    from rl_zoo3.utils import ALGOS

    objective = ExperimentManager.objective
    storage = str(tmp_path / "study.log")
    optimize = ["-optimize", "--trial-seeds", "100", "101", "--n-trials", "2", "--n-timesteps", "512", "--n-evaluations", "2"]
    main(["train", "--algo", "reinforce", "--env", ENV_ID, *optimize, "--sampler", "random", "--pruner", "none",
          "--eval-episodes", "2", "--seed", "7", "--num-threads", "1", "--no-optim-plots", "-f", str(tmp_path),
          "--storage", storage, "--study-name", "study", "-params", "n_envs:1"])  # fmt: skip
    assert "Number of finished trials:  2" in capsys.readouterr().out
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    for trial in optuna.load_study(study_name="study", storage=journal).trials:
        assert trial.user_attrs["seeds"] == [100, 101]
        scores = trial.user_attrs["seed_scores"]
        assert len(scores) == 2 and trial.value == pytest.approx(sum(scores) / 2)
        # each seed's first 2 evaluations (--n-evaluations), the second seed's after the first's
        assert sorted(trial.intermediate_values) == [1, 2, 3, 4]
    # the Zoo's objective and its algorithms are as they were
    assert ExperimentManager.objective is objective and ALGOS["reinforce"] is REINFORCE


@pytest.mark.parametrize(
    "args, message",
    [
        (["-optimize", "--trial-seeds", "100", "x"], "--trial-seeds must be distinct integers >= 0"),
        (["-optimize", "--trial-seeds", "100", "100"], "--trial-seeds must be distinct integers >= 0"),
        (["-optimize", "--trial-seeds"], "--trial-seeds needs one or more seeds"),
        (["--trial-seeds", "100"], "add -optimize, or remove --trial-seeds"),
    ],
)
def test_trial_seeds_errors(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--algo", "reinforce", "--env", ENV_ID, *args])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
