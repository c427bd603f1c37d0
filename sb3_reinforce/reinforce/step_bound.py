"""
A policy step that cannot overshoot: the optimizer's step, shortened by backtracking until the policy moves by at most
``max_step_kl`` (the KL divergence of the policy before the step from the policy after it, on the batch).

The step keeps its direction: the parameters move along the optimizer's step, by a fraction of it in (0, 1]
(halved at each try, as in TRPO's line search), or not at all if every try moves the policy too far.
"""

from collections.abc import Callable

import torch as th

#: Halvings of the step before it is given up (the policy then stays where it was): 2**-10 of the step, at most
MAX_BACKTRACKS = 10


def approx_kl(log_prob_before: th.Tensor, log_prob_after: th.Tensor) -> th.Tensor:
    """
    :math:`KL(\\pi_{before} \\| \\pi_{after})` estimated on actions drawn from :math:`\\pi_{before}`:
    the mean of :math:`(\\rho - 1) - \\log \\rho` with :math:`\\rho = \\pi_{after}(a|s) / \\pi_{before}(a|s)`
    (unbiased and never negative; the ``approx_kl`` that SB3's PPO logs).
    """
    log_ratio = log_prob_after - log_prob_before
    return (th.exp(log_ratio) - 1 - log_ratio).mean()


def bounded_step(optimizer: th.optim.Optimizer, step_kl: Callable[[], float], max_step_kl: float) -> tuple[float, float]:
    """
    Take the optimizer's step, then halve it until ``step_kl()`` is at most ``max_step_kl``.

    :param optimizer: the policy's optimizer, its gradients set
    :param step_kl: the KL divergence of the policy before the step from the policy as it is now
    :param max_step_kl: the largest KL divergence the step may cause, > 0
    :return: the step's KL divergence, and the fraction of the optimizer's step that was kept (0: none)
    """
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    before = [p.detach().clone() for p in parameters]
    optimizer.step()
    fraction, kl = 1.0, step_kl()
    for _ in range(MAX_BACKTRACKS):
        if kl <= max_step_kl:
            return kl, fraction
        fraction /= 2
        with th.no_grad():
            for parameter, start in zip(parameters, before, strict=True):
                parameter.copy_(start + (parameter - start) / 2)
        kl = step_kl()
    if kl <= max_step_kl:
        return kl, fraction
    with th.no_grad():
        for parameter, start in zip(parameters, before, strict=True):
            parameter.copy_(start)
    return 0.0, 0.0
