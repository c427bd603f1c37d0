"""
How REINFORCE saves and loads: SB3's zip format, plus the optimizer of a critic fitted apart, and a check that a
file was saved by REINFORCE before SB3 reads it.
"""

import io
import pathlib
import warnings
from contextvars import ContextVar
from typing import Any, TypeVar

import torch as th
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.type_aliases import GymEnv, TensorDict

from sb3_reinforce.common.saved_models import check_saved_model
from sb3_reinforce.reinforce.checks import REMOVED_ARGUMENTS, reject_unknown_arguments
from sb3_reinforce.reinforce.critic import Critic

SelfSavesCritic = TypeVar("SelfSavesCritic", bound="SavesCritic")

# True inside SavesCritic.load: set_parameters then follows critic arguments changed by load(path, **kwargs)
_LOADING = ContextVar("sb3_reinforce_loading", default=False)


class SavesCritic(OnPolicyAlgorithm):
    """
    SB3's on-policy algorithm, whose saved files also hold the state of the optimizer of a critic fitted apart
    (``critic.optimizer``), and whose ``load`` checks the file first (``check_saved_model``).
    """

    critic: Critic | None
    n_critic_updates: int | str | None

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "critic"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, tensors = super()._get_torch_save_params()
        fitted_apart = self.critic is not None and self.critic.optimizer is not None
        return [*state_dicts, "critic.optimizer"] if fitted_apart else state_dicts, tensors

    def set_parameters(
        self,
        load_path_or_dict: str | pathlib.Path | io.BufferedIOBase | TensorDict,
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        """
        SB3's ``set_parameters``: with ``exact_match``, a missing or extra object raises a ``ValueError``. Within
        ``load(path, n_critic_updates=...)``, the critic's optimizer follows ``n_critic_updates`` as set by the load:
        a critic newly fitted apart keeps its fresh optimizer, and the saved state of a critic no longer fitted apart
        is dropped, with a warning.

        :param load_path_or_dict: a saved zip (path or file-like), or the parameters by object name (``get_parameters``)
        :param exact_match: whether the parameters must cover every module and optimizer
        :param device: where to load them
        """
        params: dict[str, Any] = (
            dict(load_path_or_dict)
            if isinstance(load_path_or_dict, dict)
            else load_from_zip_file(load_path_or_dict, device=device, load_data=False)[1]
        )
        expected = "critic.optimizer" in self._get_torch_save_params()[0]
        if _LOADING.get() and expected and "critic.optimizer" not in params:
            assert self.critic is not None and self.critic.optimizer is not None
            params["critic.optimizer"] = self.critic.optimizer.state_dict()
        elif not expected and "critic.optimizer" in params:
            if not _LOADING.get():
                raise ValueError(
                    "Key critic.optimizer is an invalid object name: this model has no critic fitted apart "
                    f"(n_critic_updates={self.n_critic_updates!r}). Drop it from the parameters, or load them into a "
                    "model with n_critic_updates set."
                )
            del params["critic.optimizer"]
            message = "the saved state of the critic's optimizer was dropped: n_critic_updates=None fits the value head"
            warnings.warn(message + " jointly with the policy, with the policy's optimizer", stacklevel=2)
        super().set_parameters(params, exact_match=exact_match, device=device)

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfSavesCritic],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfSavesCritic:
        """
        SB3's ``load``, after checking that the file is a zip saved by REINFORCE in a format this version reads.
        Security: SB3's zip format stores some objects with cloudpickle: load only files you trust (or pass
        ``custom_objects``, or use ``get_parameters``/``set_parameters``).

        :param path: path to the file (or a file-like object)
        :param env: the new environment to run the loaded model on
        :param device: Device on which the code should run
        :param custom_objects: objects to use instead of the pickled ones, by name
        :param print_system_info: whether to print the system info of the saved model and of this system
        :param force_reset: force a ``reset()`` of the env before training
        :param kwargs: extra arguments to change the model when loading; one removed since sb3-reinforce 0.1.0
            (``vf_max_grad_norm``) raises a ``TypeError`` that names what replaces it
        :return: the loaded model
        """
        check_saved_model(path, cls.__name__)
        removed = {name: value for name, value in kwargs.items() if name in REMOVED_ARGUMENTS}
        reject_unknown_arguments(cls.__name__, removed, method="load")
        loading = _LOADING.set(True)
        try:
            model = super().load(
                path,
                env=env,
                device=device,
                custom_objects=custom_objects,
                print_system_info=print_system_info,
                force_reset=force_reset,
                **kwargs,
            )
        finally:
            _LOADING.reset(loading)
        # A model saved by 0.1.0 holds the options removed since: none is left on the model, and one that was set says
        # what the loaded model does instead
        saved = {name: model.__dict__.pop(name) for name in REMOVED_ARGUMENTS if name in model.__dict__}
        if saved.get("vf_max_grad_norm") is not None:
            joint = model.critic is not None and model.critic.joint
            how = "with the policy's" if joint else "on its own"
            norm = saved["vf_max_grad_norm"]
            fix = (
                f"n_critic_updates=1 and max_grad_norm={norm!r} (the value head is then fitted apart, its gradient "
                "clipped on its own; max_grad_norm also clips the policy's gradient)"
                if joint
                else f"max_grad_norm={norm!r} (it also clips the policy's gradient)"
            )
            warnings.warn(
                f"This model was saved with vf_max_grad_norm={norm!r}, an option removed after sb3-reinforce 0.1.0: "
                f"the loaded model clips the value head's gradient {how} at max_grad_norm={model.max_grad_norm!r}. "
                f"Its predictions are unchanged. To train it on with the value head's gradient clipped apart at the "
                f"saved norm, load it with {fix}.",
                stacklevel=2,
            )
        return model
