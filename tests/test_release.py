"""
The release a user installs: the sdist and wheel pass PyPI's checks, and the wheel, installed alone in a fresh virtual
environment, runs the README's example and the RL Zoo with the packaged ``reinforce.yml``.
"""

import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import torch as th
import yaml

import sb3_reinforce

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str | Path, cwd: Path) -> str:
    result = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def readme_example() -> str:
    """The README's first Python example."""
    match = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert match is not None, "the README has no Python example"
    return match.group(1)


def test_version_has_one_source() -> None:
    """pyproject.toml reads the version from version.txt, as the package does (sb3-contrib's layout)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'version = { file = "sb3_reinforce/version.txt" }' in pyproject
    assert sb3_reinforce.__version__ == (ROOT / "sb3_reinforce" / "version.txt").read_text().strip()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "## [0.1.0]" in changelog


@pytest.mark.slow
def test_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, ROOT, cwd=tmp_path)
    (wheel,) = dist.glob("sb3_reinforce-*.whl")
    (sdist,) = dist.glob("sb3_reinforce-*.tar.gz")
    assert f"-{sb3_reinforce.__version__}-" in wheel.name
    _run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist, cwd=tmp_path)

    # The wheel alone, with its dependencies from the package index; torch first, the build this suite runs on
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", f"torch=={th.__version__.split('+')[0]}", cwd=tmp_path)
    _run(python, "-m", "pip", "install", "-q", f"{wheel}[zoo]", cwd=tmp_path)
    location = _run(python, "-c", "import sb3_reinforce; print(sb3_reinforce.__file__)", cwd=tmp_path)
    assert str(tmp_path / "venv") in location

    # The README's example, on a smaller budget
    example = readme_example()
    assert "model.learn(100_000" in example
    (tmp_path / "example.py").write_text(example.replace("model.learn(100_000", "model.learn(2_000"))
    output = _run(python, "example.py", cwd=tmp_path)
    assert re.search(r"mean reward [0-9.]+ \+/- [0-9.]+ over 10 episodes", output), output
    assert (tmp_path / "reinforce_cartpole.zip").exists()

    # The Zoo, with the hyperparameters shipped in the wheel
    zoo = tmp_path / "venv" / "bin" / "sb3-reinforce-zoo"
    _run(zoo, "train", "--algo", "reinforce", "--env", "CartPole-v1", "-n", "2000", "--seed", "0", "-f", "logs", cwd=tmp_path)
    (config,) = (tmp_path / "logs" / "reinforce").glob("CartPole-v1_1/CartPole-v1/config.yml")
    used = dict(yaml.load(config.read_text(), Loader=yaml.UnsafeLoader))  # the Zoo writes an OrderedDict
    with open(ROOT / "sb3_reinforce" / "hyperparams" / "reinforce.yml") as file:
        packaged = yaml.safe_load(file)["CartPole-v1"]
    assert used["learning_rate"] == packaged["learning_rate"] and used["n_envs"] == packaged["n_envs"]
