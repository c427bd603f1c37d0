"""
One-off (issue 27): bit-identity of the restructuring. Run at two trees and compare the printed lines:
    PYTHONPATH=<tree> python fingerprint_restructure.py OUT_DIR           # 18 configurations and every reinforce.yml entry
    PYTHONPATH=<tree> python fingerprint_restructure.py OUT_DIR acrobot   # the Acrobot-v1 entry at 16k steps
    PYTHONPATH=<old tree> python fingerprint_restructure.py DIR/before save; PYTHONPATH=<tree> python fingerprint_restructure.py DIR/after load
Each line: name, sha256 of the policy parameters and both optimizers' first moments, n_updates, target mean and std.
"""
import hashlib, sys, os
import numpy as np, torch as th, gymnasium as gym, yaml
from torch import nn
from stable_baselines3.common.env_util import make_vec_env, make_atari_env
from stable_baselines3.common.envs import SimpleMultiObsEnv
from stable_baselines3.common.vec_env import VecNormalize, VecFrameStack
import sb3_reinforce
from sb3_reinforce import REINFORCE

th.set_num_threads(1)
out, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
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
    # the critic's variants
    "cart_joint": ("CartPole-v1", 4, dict(n_steps=16, n_critic_updates=None)),
    "cart_joint_norm": ("CartPole-v1", 4, dict(n_steps=16, n_critic_updates=None, normalize_value_targets=True)),
    "cart_full_batch": ("CartPole-v1", 2, dict(n_steps=64, batch_size=None, n_critic_updates=3)),
    "cart_chunks": ("CartPole-v1", 4, dict(n_steps=32, chunk_size=20, batch_size=48)),
    "pend_value_joint_chunks": ("Pendulum-v1", 2, dict(n_steps=100, n_critic_updates=None, chunk_size=33, bootstrap_truncated=True)),
    "pend_value_lr": ("Pendulum-v1", 2, dict(n_steps=100, vf_learning_rate=lambda p: 1e-3 * p, batch_size=None)),
}

def digest_of(model):
    d = hashlib.sha256()
    for t in model.policy.state_dict().values():
        d.update(t.cpu().numpy().tobytes())
    opt = getattr(getattr(model, "critic", None), "optimizer", None)
    if opt is not None:
        for s in opt.state_dict()["state"].values():
            d.update(s["exp_avg"].numpy().tobytes())
    for s in model.policy.optimizer.state_dict()["state"].values():
        d.update(s["exp_avg"].numpy().tobytes())
    vt = model.value_targets
    return d.hexdigest()[:16], model._n_updates, vt.mean, vt.std

def schedule(v):
    if isinstance(v, str) and v.startswith("lin_"):
        x = float(v[4:]); return lambda p: p * x
    return v

if mode == "":
    for name, (env_id, n_envs, kwargs) in CONFIGS.items():
        if env_id == "dict":
            env = make_vec_env(lambda: gym.wrappers.TimeLimit(SimpleMultiObsEnv(random_start=True), 30), n_envs=n_envs, seed=3); policy = "MultiInputPolicy"
        else:
            env = make_vec_env(env_id, n_envs=n_envs, seed=3); policy = "MlpPolicy"
        model = REINFORCE(policy, env, seed=5, policy_kwargs=dict(net_arch=[16]), **kwargs)
        model.learn(3000)
        print(name, *digest_of(model), flush=True)
    entries = yaml.safe_load(open(os.path.join(os.path.dirname(sb3_reinforce.__file__), "hyperparams", "reinforce.yml")))
    for key, entry in entries.items():
        entry = dict(entry)
        env_id = {"default": "CartPole-v1", "atari": "BreakoutNoFrameskip-v4"}.get(key, key)
        n_envs = entry.pop("n_envs", 1); entry.pop("n_timesteps"); policy = entry.pop("policy")
        normalize = entry.pop("normalize", False); wrappers = entry.pop("env_wrapper", None); fs = entry.pop("frame_stack", None)
        pk = entry.pop("policy_kwargs", None)
        if isinstance(pk, str): pk = eval(pk, {"nn": nn, "dict": dict})
        entry = {k: schedule(v) for k, v in entry.items()}
        if key == "atari" or "NoFrameskip" in key:
            import ale_py; gym.register_envs(ale_py)
            env = make_atari_env(env_id, n_envs=n_envs, seed=3)
        else:
            env = make_vec_env(env_id, n_envs=n_envs, seed=3)
        if fs: env = VecFrameStack(env, fs)
        if normalize: env = VecNormalize(env)
        model = REINFORCE(policy, env, seed=5, policy_kwargs=pk, **entry)
        budget = 2 * n_envs * entry.get("n_steps", 16) * 3 if key != "atari" else 3 * n_envs * 128
        model.learn(max(budget, 2000))
        print("entry:" + key, *digest_of(model), flush=True)
elif mode == "save":
    for name, kwargs in (("apart", {}), ("joint", dict(n_critic_updates=None))):
        model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=3), seed=5, **kwargs)
        model.learn(2000); model.save(f"{out}/saved_{name}")
elif mode == "load":
    obs = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    for name in ("apart", "joint"):
        model = REINFORCE.load(f"{out}/../before/saved_{name}", env=make_vec_env("CartPole-v1", n_envs=2, seed=3), seed=7)
        actions = model.predict(obs, deterministic=True)[0]
        values = model.policy.predict_values(th.as_tensor(obs)).detach().numpy()
        model.learn(1000, reset_num_timesteps=False)
        print("load:" + name, hashlib.sha256(actions.tobytes() + values.tobytes()).hexdigest()[:16], *digest_of(model), flush=True)
elif mode == "acrobot":
    entries = yaml.safe_load(open(os.path.join(os.path.dirname(sb3_reinforce.__file__), "hyperparams", "reinforce.yml")))
    entry = dict(entries["Acrobot-v1"]); n_envs = entry.pop("n_envs"); entry.pop("n_timesteps"); policy = entry.pop("policy")
    model = REINFORCE(policy, make_vec_env("Acrobot-v1", n_envs=n_envs, seed=3), seed=5, **entry)
    model.learn(16000)
    print("entry:Acrobot-v1-long", *digest_of(model), flush=True)
