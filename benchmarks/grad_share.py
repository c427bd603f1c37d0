"""
How much of the clipped gradient goes to the policy: REINFORCE clips the gradient of the whole loss (policy and
value head together) to ``max_grad_norm``, so a large value loss shrinks the step of the score-function term.
This trains REINFORCE and prints, for some updates, the gradient norms of the policy's parameters and of the value
head's parameters before clipping, and the policy's gradient norm after clipping.

Usage (the figures in ``benchmarks/notes.md``)::

    python benchmarks/grad_share.py --env LunarLander-v3 --n-envs 8 --n-steps 512 --lr 5e-4 --timesteps 200000
    python benchmarks/grad_share.py --env LunarLander-v3 --n-envs 8 --n-steps 512 --lr 5e-4 --timesteps 200000 \
        --vf-coef 0.01 --max-grad-norm 50
"""

import argparse
from typing import Any

import torch as th
from stable_baselines3.common.env_util import make_vec_env

import sb3_reinforce.reinforce.reinforce as reinforce_module
from sb3_reinforce import REINFORCE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="LunarLander-v3")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--n-steps", type=int, default=512)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--vf-coef", type=float, default=0.5)
    parser.add_argument("--max-grad-norm", type=float, default=0.5)
    parser.add_argument("--timesteps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=10, help="updates to print, evenly spaced")
    args = parser.parse_args()
    th.set_num_threads(1)

    model = REINFORCE(
        "MlpPolicy",
        make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed),
        n_steps=args.n_steps,
        learning_rate=args.lr,
        gamma=args.gamma,
        baseline="value",
        normalize_advantage=True,
        vf_coef=args.vf_coef,
        max_grad_norm=args.max_grad_norm,
        seed=args.seed,
        device="cpu",
    )
    # The value head: SB3's mlp_extractor.value_net and value_net (MlpPolicy shares no layer between the two)
    value_params = [param for name, param in model.policy.named_parameters() if "value_net" in name]
    value_ids = {id(param) for param in value_params}
    policy_params = [param for param in model.policy.parameters() if id(param) not in value_ids]
    norms: list[tuple[float, float, float]] = []
    clip = th.nn.utils.clip_grad_norm_

    def recording_clip(parameters: Any, max_norm: float, *clip_args: Any, **clip_kwargs: Any) -> th.Tensor:
        def norm(params: list[th.nn.Parameter]) -> float:
            return float(th.linalg.vector_norm(th.stack([p.grad.norm() for p in params if p.grad is not None])))

        before_pi, before_vf = norm(policy_params), norm(value_params)
        total = clip(parameters, max_norm, *clip_args, **clip_kwargs)
        norms.append((before_pi, before_vf, norm(policy_params)))
        return total

    reinforce_module.th.nn.utils.clip_grad_norm_ = recording_clip  # type: ignore[assignment]
    try:
        model.learn(args.timesteps)
    finally:
        reinforce_module.th.nn.utils.clip_grad_norm_ = clip
    print(f"{args}\nupdate  |grad policy|  |grad value|  |grad policy| after clipping")
    for index in range(0, len(norms), max(1, len(norms) // args.rows)):
        before_pi, before_vf, after_pi = norms[index]
        print(f"{index:6d}  {before_pi:13.4f}  {before_vf:12.1f}  {after_pi:.2e}")


if __name__ == "__main__":
    main()
