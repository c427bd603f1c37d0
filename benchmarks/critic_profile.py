"""One-off (session 12): cProfile of learn() on CartPole-v1, 8 envs, n_steps=64, baseline="value" (the default critic). Usage: python benchmarks/critic_profile.py"""
import cProfile, pstats, time, sys
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from sb3_reinforce import REINFORCE
th.set_num_threads(1)
env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
model = REINFORCE("MlpPolicy", env, n_steps=64, seed=0, device="cpu", baseline="value")
model.learn(5000)
pr = cProfile.Profile(); pr.enable()
t=time.perf_counter(); model.learn(30000, reset_num_timesteps=False); print("fps", 30000/(time.perf_counter()-t))
pr.disable()
pstats.Stats(pr).sort_stats("cumulative").print_stats(45)
