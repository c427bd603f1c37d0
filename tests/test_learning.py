"""Learning checks with fixed seeds and real thresholds (deterministic evaluation)."""

from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_reinforce import REINFORCE
from tests.helpers import PointReachEnv


def test_cartpole_default_hyperparameters() -> None:
    """The constructor defaults reach a deterministic mean of 475 on CartPole-v1 within 100k steps."""
    eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=1000)
    stop = StopTrainingOnRewardThreshold(reward_threshold=475, verbose=0)
    eval_callback = EvalCallback(eval_env, callback_on_new_best=stop, eval_freq=5_000, n_eval_episodes=10, verbose=0)
    model = REINFORCE("MlpPolicy", "CartPole-v1", seed=0, device="cpu")
    model.learn(100_000, callback=eval_callback)
    assert eval_callback.best_mean_reward >= 475, eval_callback.best_mean_reward


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
