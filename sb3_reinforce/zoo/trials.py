"""
``train -optimize --trial-seeds S1 S2 ...``: score each Optuna trial on the same seeds, so that a study chooses the
hyperparameters that learn on every seed, not on one lucky one.

rl_zoo3 limitation: the Zoo's objective (``ExperimentManager.objective``) trains one model per trial, with
``seed=None``. While a study runs with ``--trial-seeds``, :func:`objective_over_seeds` replaces it by one that calls
the Zoo's own objective once per seed (the envs and the model seeded), and scores the trial with the mean of their
final evaluations. ``--seed`` still seeds the Zoo's sampler: workers of one study need different ``--seed`` values,
or they propose the same trials. Each seed's evaluations are reported to Optuna after the
previous seed's (:class:`_SeedTrial`), so that a pruner compares trials seed by seed; a pruned seed prunes the
trial. The seeds and their scores are stored with the trial (user attributes ``seeds`` and ``seed_scores``).
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import optuna


class _SeedTrial:
    """
    A trial as the ``index``-th seed's run sees it: its evaluations 1 to ``n_evaluations`` are reported as the trial's
    steps ``index * n_evaluations + 1`` to ``(index + 1) * n_evaluations``, after those of the seeds before it. A run
    whose last rollout goes past the budget evaluates more often: those extra evaluations are not reported, so that a
    step means the same in every trial.
    """

    def __init__(self, trial: optuna.Trial, index: int, n_evaluations: int):
        self._trial = trial
        self._index = index
        self._n_evaluations = n_evaluations

    def report(self, value: float, step: int) -> None:
        if step <= self._n_evaluations:
            self._trial.report(value, step + self._index * self._n_evaluations)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)


@contextlib.contextmanager
def _seeded(algo: str, seed: int) -> Iterator[None]:
    """While a seed's run builds its model, give the algorithm's constructor ``seed`` (the Zoo passes None)."""
    from rl_zoo3.utils import ALGOS

    algo_class = ALGOS[algo]

    def seeded(*args: Any, **kwargs: Any) -> Any:
        return algo_class(*args, **{**kwargs, "seed": seed})

    ALGOS[algo] = seeded  # type: ignore[assignment]
    try:
        yield
    finally:
        ALGOS[algo] = algo_class


@contextlib.contextmanager
def objective_over_seeds(seeds: list[int]) -> Iterator[None]:
    """
    While a Zoo script runs, score every Optuna trial on ``seeds`` (see the module's docstring).

    :param seeds: the seeds of each trial
    :return: a context manager
    """
    from rl_zoo3.exp_manager import ExperimentManager

    objective = ExperimentManager.objective

    def over_seeds(self: ExperimentManager, trial: optuna.Trial) -> float:
        first_seed = self.seed
        trial.set_user_attr("seeds", seeds)
        scores: list[float] = []
        try:
            for index, seed in enumerate(seeds):
                self.seed = seed
                with _seeded(self.algo, seed):
                    scores.append(float(objective(self, _SeedTrial(trial, index, self.n_evaluations))))  # type: ignore[arg-type]
                trial.set_user_attr("seed_scores", scores)
        finally:
            self.seed = first_seed
        return float(np.mean(scores))

    ExperimentManager.objective = over_seeds  # type: ignore[method-assign]
    try:
        yield
    finally:
        ExperimentManager.objective = objective  # type: ignore[method-assign]
