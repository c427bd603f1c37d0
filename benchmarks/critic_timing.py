"""One-off (session 12): interleaved steps/s of A2C and REINFORCE critic variants (cur: default; fullN: N full-batch passes; joint), CartPole-v1, 8 envs, n_steps=64, 50k steps. Usage: python benchmarks/critic_timing.py a2c,cur,full5,full3,full1,joint 3"""
import sys, time, json
import torch as th
from stable_baselines3 import A2C
from stable_baselines3.common.env_util import make_vec_env
from sb3_reinforce import REINFORCE
th.set_num_threads(1)
V = {"a2c": None, "cur": {}, "full5": dict(batch_size=None), "full3": dict(n_critic_updates=3, batch_size=None),
     "full1": dict(n_critic_updates=1, batch_size=None), "joint": dict(n_critic_updates=None)}
names = sys.argv[1].split(",") if len(sys.argv) > 1 else list(V)
res = {k: [] for k in names}
for r in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3):
    for k in names:
        env = make_vec_env("CartPole-v1", n_envs=8, seed=0)
        m = A2C("MlpPolicy", env, n_steps=64, seed=0, device="cpu") if V[k] is None else REINFORCE("MlpPolicy", env, n_steps=64, seed=0, device="cpu", baseline="value", **V[k])
        t = time.perf_counter(); m.learn(50000); res[k].append(m.num_timesteps / (time.perf_counter() - t))
    print({k: round(sorted(v)[len(v)//2]) for k, v in res.items()}, flush=True)
