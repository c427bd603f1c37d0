"""
One-off (issue 13): REINFORCE on LunarLander-v3 with the given kwargs; SB3's CSV log of train/* and 10 deterministic
evaluation episodes every 100k steps. Usage: ``python benchmarks/ll_probe.py OUT SEED N_ENVS STEPS KWARGS_JSON``
(a ``learning_rate`` of ``"lin_X"`` is the Zoo's linear decay from X).
"""

import json
import sys
import time

import torch as th
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure

from sb3_reinforce import REINFORCE

out, seed, n_envs, steps, kwargs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5])
th.set_num_threads(1)
if isinstance(kwargs.get("learning_rate"), str) and kwargs["learning_rate"].startswith("lin_"):
    initial = float(kwargs["learning_rate"][4:])
    kwargs["learning_rate"] = lambda progress_remaining: progress_remaining * initial  # the Zoo's lin_ schedule
env = make_vec_env("LunarLander-v3", n_envs=n_envs, seed=seed)
model = REINFORCE("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
model.set_logger(configure(out, ["csv"]))
eval_env = make_vec_env("LunarLander-v3", n_envs=1, seed=10_000 + seed)
callback = EvalCallback(eval_env, n_eval_episodes=10, eval_freq=max(100_000 // n_envs, 1), log_path=out, verbose=0)
start = time.time()
model.learn(steps, callback=callback, log_interval=10)
print("done", time.time() - start, flush=True)
