"""Learning checks with fixed seeds and real thresholds (deterministic evaluation)."""

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE
from tests.helpers import PointReachEnv

# Tens of thousands of steps each: `make test PYTEST_ARGS='-m "not slow"'` leaves them out (CI runs everything)
pytestmark = pytest.mark.slow


class StopWhenLastEvaluationsPass(BaseCallback):
    """Called after each evaluation of an EvalCallback: stop training once the median of the last ``n`` means passes."""

    def __init__(self, threshold: float, n: int):
        super().__init__()
        self.threshold, self.n = threshold, n
        self.means: list[float] = []

    def last_median(self) -> float:
        return float(np.median(self.means[-self.n :])) if len(self.means) >= self.n else -np.inf

    def _on_step(self) -> bool:
        assert self.parent is not None
        self.means.append(float(self.parent.last_mean_reward))
        return self.last_median() < self.threshold


def test_cartpole_default_hyperparameters() -> None:
    """
    The constructor defaults reach a deterministic mean of 475 on CartPole-v1 within 100k steps, judged on the median
    of the last 3 evaluations (one lucky evaluation is not enough), and a final evaluation of the trained model agrees.
    """
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1000)
    stop = StopWhenLastEvaluationsPass(threshold=475, n=3)
    eval_callback = EvalCallback(eval_env, callback_after_eval=stop, eval_freq=5_000, n_eval_episodes=10, verbose=0)
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(100_000, callback=eval_callback)
    assert stop.last_median() >= 475, stop.means
    final, _ = evaluate_policy(model, make_vec_env("CartPole-v1", n_envs=1, seed=2000), n_eval_episodes=20)
    assert final >= 475, (final, stop.means)


def test_continuous_control_improves() -> None:
    """Gaussian policy on a continuous task: from about -9.3 (untrained) to better than -3.5 in 20k steps."""
    env = make_vec_env(PointReachEnv, n_envs=4, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=100, learning_rate=3e-3, seed=0, device="cpu")
    eval_env = make_vec_env(PointReachEnv, n_envs=1, seed=100)
    before, _ = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
    model.learn(20_000)
    after, _ = evaluate_policy(model, eval_env, n_eval_episodes=20, deterministic=True)
    assert before < -8.0, before
    assert after > -3.5, after
