"""
RL Zoo (``rl_zoo3``) integration of REINFORCE.

:func:`register` makes ``--algo reinforce`` available to the Zoo's scripts (train, enjoy, record_video,
hyperparameter optimization, loading a trial from a study). The ``sb3-reinforce-zoo`` command
(:mod:`sb3_reinforce.zoo.cli`) calls it, then runs the Zoo's own entry points.

Importing this subpackage imports ``rl_zoo3`` (the ``zoo`` extra: ``pip install -e ".[zoo]"`` in a clone);
``import sb3_reinforce`` alone never does.
"""

import sys
from importlib import resources

if sys.version_info >= (3, 11):
    from importlib.resources.abc import Traversable
else:  # pragma: no cover
    from importlib.abc import Traversable

from sb3_reinforce.reinforce import REINFORCE
from sb3_reinforce.zoo.hyperparams_opt import convert_reinforce_params, sample_reinforce_params

#: The name of the algorithm in the Zoo (``--algo reinforce``)
ALGO_NAME = "reinforce"


def hyperparams_file() -> Traversable:
    """
    The hyperparameters file shipped with the package, in the Zoo's format: ``sb3_reinforce/hyperparams/reinforce.yml``.

    Use ``importlib.resources.as_file(hyperparams_file())`` to get a path on the file system.

    :return: the packaged ``reinforce.yml``
    """
    return resources.files("sb3_reinforce").joinpath("hyperparams", f"{ALGO_NAME}.yml")


def register() -> None:
    """
    Register REINFORCE in the RL Zoo, under the name ``"reinforce"``:

    - ``rl_zoo3.ALGOS["reinforce"] = REINFORCE`` (the algorithm the scripts build and load),
    - ``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER["reinforce"]`` (``-optimize``),
    - ``rl_zoo3.hyperparams_opt.HYPERPARAMS_CONVERTER["reinforce"]`` (``--trial-id`` with ``--storage``).

    The Zoo builds its ``--algo`` choices from ``ALGOS`` when a script parses its arguments, so call this
    before running a script. Calling it again changes nothing.

    rl_zoo3 limitation: the Zoo has no plugin entry point for algorithms; these module-level dicts are its registry.
    """
    # Imported here: they are the Zoo's module-level registries, shared by all its scripts
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
    from rl_zoo3.utils import ALGOS

    ALGOS[ALGO_NAME] = REINFORCE
    HYPERPARAMS_SAMPLER[ALGO_NAME] = sample_reinforce_params
    HYPERPARAMS_CONVERTER[ALGO_NAME] = convert_reinforce_params


__all__ = [
    "ALGO_NAME",
    "convert_reinforce_params",
    "hyperparams_file",
    "register",
    "sample_reinforce_params",
]
