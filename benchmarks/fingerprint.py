"""One-off: train 12 short fixed-seed configurations and print a sha256 of the final parameters of each.
Usage: python benchmarks/fingerprint.py OUT_DIR (run it at two commits and compare the digests)."""
"""Train short fixed-seed runs of each kind of configuration and save the final parameters."""
import sys, hashlib
import numpy as np
import torch as th
import gymnasium as gym
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import SimpleMultiObsEnv
from sb3_reinforce import REINFORCE

out = sys.argv[1]
extra = dict(arg.split("=", 1) for arg in sys.argv[2:])
CONFIGS = {
    "cart_value": ("CartPole-v1", 1, dict(n_steps=64)),
    "cart_none": ("CartPole-v1", 2, dict(n_steps=32, baseline=None)),
    "cart_mean_whole": ("CartPole-v1", 2, dict(n_steps=32, baseline="mean", reward_to_go=False)),
    "cart_mean": ("CartPole-v1", 4, dict(n_steps=16, baseline="mean")),
    "cart_loo": ("CartPole-v1", 4, dict(n_steps=16, baseline="leave_one_out")),
    "cart_loo_whole": ("CartPole-v1", 4, dict(n_steps=16, baseline="leave_one_out", reward_to_go=False)),
    "cart_dw_nostale": ("CartPole-v1", 2, dict(n_steps=16, discount_weighting=True, stale_correction=False, normalize_advantage=False, ent_coef=0.01)),
    "cart_episodes": ("CartPole-v1", 3, dict(n_episodes=5, baseline="leave_one_out")),
    "pend_value": ("Pendulum-v1", 2, dict(n_steps=100, bootstrap_truncated=True)),
    "pend_none_sde": ("Pendulum-v1", 1, dict(n_steps=64, baseline=None, use_sde=True, sde_sample_freq=8)),
    "pend_mean_boot": ("Pendulum-v1", 2, dict(n_steps=150, baseline="mean", bootstrap_truncated=True)),
    "dict_value": ("dict", 2, dict(n_steps=16)),
}
for name, (env_id, n_envs, kwargs) in CONFIGS.items():
    if env_id == "dict":
        env = make_vec_env(lambda: gym.wrappers.TimeLimit(SimpleMultiObsEnv(random_start=True), 30), n_envs=n_envs, seed=3)
        policy = "MultiInputPolicy"
    else:
        env = make_vec_env(env_id, n_envs=n_envs, seed=3)
        policy = "MlpPolicy"
    kwargs = {**kwargs, **{k: eval(v) for k, v in extra.items()}}
    model = REINFORCE(policy, env, seed=5, policy_kwargs=dict(net_arch=[16]), **kwargs)
    model.learn(3000)
    params = {k: v.detach().cpu().clone() for k, v in model.policy.state_dict().items()}
    th.save(params, f"{out}/{name}.pt")
    digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in params.values())).hexdigest()[:16]
    print(name, digest, model._n_updates)
