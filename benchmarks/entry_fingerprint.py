"""
One-off (session 9): a sha256 of the policy, of the critic optimizer's first moments, and the target statistics,
after 30 updates with the LunarLander-v3 entry's configuration (seed 0). Run it at two commits and compare:
``PYTHONPATH=<tree> python benchmarks/entry_fingerprint.py``.
"""

import hashlib

import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_reinforce import REINFORCE

th.set_num_threads(1)
kwargs = dict(
    n_steps=64,
    learning_rate=3e-3,
    gamma=0.99,
    baseline="value",
    normalize_advantage=True,
    ent_coef=0.001,
    max_grad_norm=0.5,
    n_critic_updates=5,
    batch_size=64,
    vf_learning_rate=1e-3,
    normalize_value_targets=True,
)
model = REINFORCE("MlpPolicy", make_vec_env("LunarLander-v3", n_envs=16, seed=0), seed=0, device="cpu", **kwargs)  # type: ignore[arg-type]
model.learn(30_000)
digest = hashlib.sha256()
for tensor in model.policy.state_dict().values():
    digest.update(tensor.numpy().tobytes())
assert model.critic is not None
for state in model.critic.optimizer.state_dict()["state"].values():
    digest.update(state["exp_avg"].numpy().tobytes())
print(digest.hexdigest()[:16], model._n_updates, model.value_targets.mean, model.value_targets.std)
