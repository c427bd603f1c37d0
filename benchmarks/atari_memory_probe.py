"""One-off: peak RSS of A2C or REINFORCE (the atari entry's values) on Breakout, 8 envs, 8192 steps.
Usage: python benchmarks/atari_memory_probe.py a2c|reinforce"""
import sys, resource, gymnasium, ale_py, torch as th
gymnasium.register_envs(ale_py)
th.set_num_threads(1)
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack
from sb3_reinforce import REINFORCE
algo = sys.argv[1]
env = VecFrameStack(make_atari_env("BreakoutNoFrameskip-v4", n_envs=8, seed=0), 4)
def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("setup", rss())
if algo == "a2c":
    model = A2C("CnnPolicy", env, seed=0, device="cpu")
else:
    model = REINFORCE("CnnPolicy", env, n_steps=128, learning_rate=5e-3, ent_coef=0.01, vf_coef=0.25, seed=0, device="cpu")
print("model", rss())
model.learn(8192)
print("learn", rss(), getattr(model.rollout_buffer, "held_bytes", None))
