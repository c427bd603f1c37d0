"""
Actual training on the corridor MDP of ``tests/test_exact_gradient.py`` (one start action leads to a 301-step
episode paying +1, the other to a 2-step episode paying +0.5; 8 envs, ``n_steps=16``, so long episodes span
~19 rollouts). From pi(long) = 0.31, a correct update must raise pi(long). Recorded in docs/exact_gradient.md.

Run from the repository root: ``PYTHONPATH=. python benchmarks/corridor_learning.py``
"""

import torch as th

from tests.test_exact_gradient import MDP_CORRIDOR, THETA_CORRIDOR, make_model

SETTINGS: dict[str | None, dict] = {
    None: dict(normalize_advantage=False, learning_rate=3e-3),
    "leave_one_out": dict(normalize_advantage=False, learning_rate=3e-3),
    "value": dict(normalize_advantage=True, max_grad_norm=0.5, learning_rate=3e-3),
}


def main() -> None:
    th.set_num_threads(1)
    for baseline, kwargs in SETTINGS.items():
        model = make_model(MDP_CORRIDOR, THETA_CORRIDOR, n_envs=8, n_steps=16, baseline=baseline, **kwargs)
        model.learn(100_000)
        with th.no_grad():
            action_net = model.policy.action_net
            assert isinstance(action_net, th.nn.Linear)
            weight, bias = action_net.weight, action_net.bias
            p_long = th.softmax(weight[:, 0] + bias, 0)[0].item()
            objective = float(MDP_CORRIDOR.exact_objective(weight, bias, 1.0))
        print(f"baseline={baseline} {kwargs}: pi(long) 0.310 -> {p_long:.3f}, J 0.655 -> {objective:.3f}", flush=True)


if __name__ == "__main__":
    main()
