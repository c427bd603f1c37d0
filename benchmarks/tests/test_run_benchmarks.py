"""``run_benchmarks.py``: what it reads from the Zoo's training log."""

import pytest
import run_benchmarks
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from sb3_reinforce import REINFORCE


def test_explained_variance_is_read_from_the_training_log(capsys: pytest.CaptureFixture[str]) -> None:
    """``collect_one`` keeps ``train/explained_variance`` per update, read from SB3's stdout tables of a real run."""
    logged: list[tuple[int, float]] = []
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=64, seed=0)
    model.set_logger(configure(None, ["stdout"]))
    dump = model.logger.dump

    def record_and_dump(step: int = 0) -> None:
        value = model.logger.name_to_value.get("train/explained_variance")
        if value is not None:
            logged.append((model.num_timesteps, value))
        dump(step)

    model.logger.dump = record_and_dump  # type: ignore[method-assign]
    model.learn(1_000, log_interval=1)  # as run_benchmarks.py asks the Zoo for REINFORCE
    rows = run_benchmarks.explained_variance_rows(capsys.readouterr().out)
    assert len(rows) == len(logged) > 3
    assert [steps for steps, _ in rows] == [steps for steps, _ in logged]
    # SB3 prints 3 significant digits
    for (_, value), (_, expected) in zip(rows, logged, strict=True):
        assert abs(value - expected) <= 5e-3 * max(1.0, abs(expected))
