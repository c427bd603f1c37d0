"""What the documented installs give: the README's first example (progress bar) and ``tensorboard_log=``."""

import sys
from pathlib import Path

import pytest

from sb3_reinforce import REINFORCE

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _requirement_names(requirements: list[str]) -> set[str]:
    """The distribution names of requirement strings ("rich", "tensorboard>=2.9.1", "psycopg[binary]" -> psycopg)."""
    names = set()
    for requirement in requirements:
        name = requirement
        for separator in "<>=!~[;@ ":
            name = name.split(separator)[0]
        names.add(name.strip().lower())
    return names


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is in the standard library from Python 3.11")
def test_declared_dependencies() -> None:
    """`pip install -e .` runs `learn(progress_bar=True)`; the `extra` and `zoo` extras bring tensorboard."""
    import tomllib

    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = project["optional-dependencies"]
    assert {"rich", "tqdm"} <= _requirement_names(project["dependencies"])
    assert {"tensorboard", "rich", "tqdm"} <= _requirement_names(extras["extra"])
    assert "tensorboard" in _requirement_names(extras["zoo"])
    # OpenCV comes only as the headless build (SB3's `extra` has opencv-python, which conflicts with it)
    assert not any("opencv-python" in _requirement_names(requirements) for requirements in extras.values())


def test_progress_bar_and_tensorboard(tmp_path) -> None:
    """The README's first example uses progress_bar=True; tensorboard_log= writes event files (`extra` or `zoo` extra)."""
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=32, tensorboard_log=str(tmp_path), seed=0, device="cpu")
    model.learn(64, progress_bar=True)
    assert list(tmp_path.glob("REINFORCE_1/events.out.tfevents.*")), sorted(tmp_path.rglob("*"))
