"""Checks run by ``REINFORCE.load`` before SB3's own loader: is the file a readable zip saved by REINFORCE?"""

import io
import json
import pathlib
import re
import zipfile
from typing import Any

# Version of what REINFORCE writes into its zip files. Raise it when a change makes older readers fail.
SAVE_FORMAT = 1

#: SB3 does not store which algorithm saved a zip. The module of its policy class names the algorithm for these
#: (``stable_baselines3.dqn.policies`` -> DQN); A2C, PPO and sb3-contrib's TRPO share
#: ``stable_baselines3.common.policies`` and are told apart by their attributes (:data:`ON_POLICY_ATTRIBUTES`).
POLICY_MODULES: dict[str, str] = {
    "stable_baselines3.dqn.policies": "stable_baselines3.DQN",
    "stable_baselines3.sac.policies": "stable_baselines3.SAC",
    "stable_baselines3.td3.policies": "stable_baselines3.TD3",
    "sb3_contrib.qrdqn.policies": "sb3_contrib.QRDQN",
    "sb3_contrib.tqc.policies": "sb3_contrib.TQC",
    "sb3_contrib.crossq.policies": "sb3_contrib.CrossQ",
    "sb3_contrib.ars.policies": "sb3_contrib.ARS",
    "sb3_contrib.common.recurrent.policies": "sb3_contrib.RecurrentPPO",
    "sb3_contrib.common.maskable.policies": "sb3_contrib.MaskablePPO",
}

#: An attribute that only this on-policy algorithm saves, checked in this order (PPO also saves gae_lambda)
ON_POLICY_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("cg_damping", "sb3_contrib.TRPO"),
    ("clip_range", "stable_baselines3.PPO"),
    ("gae_lambda", "stable_baselines3.A2C"),
)


def check_saved_model(path: str | pathlib.Path | io.BufferedIOBase, class_name: str) -> None:
    """
    Check that ``path`` is a zip saved by REINFORCE in a format this version reads, with SB3's exception types.

    :param path: what was given to ``load()``: a path (``.zip`` may be left out, as with SB3) or a file object
    :param class_name: the class whose ``load()`` was called, for the messages
    :raises FileNotFoundError: no such file (nor with ``.zip`` added)
    :raises ValueError: not a readable zip file (as SB3), saved by another algorithm, or by a newer sb3-reinforce
    """
    if isinstance(path, (str, pathlib.Path)):
        path = pathlib.Path(path)
        if not path.exists() and path.with_name(path.name + ".zip").exists():
            path = path.with_name(path.name + ".zip")
        if not path.exists():
            raise FileNotFoundError(f"{class_name}.load(): no such file: {path} (nor {path}.zip)")
        source: Any = path
    elif hasattr(path, "read") and hasattr(path, "seek"):
        source = path
        position = path.tell()
    else:
        return  # SB3 raises its TypeError
    try:
        with zipfile.ZipFile(source) as archive:
            if archive.testzip() is not None or "data" not in archive.namelist():
                raise zipfile.BadZipFile("missing or corrupt 'data' entry")
            data = json.loads(archive.read("data").decode())
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{class_name}.load(): {path} is not a readable SB3 zip file ({error}). It may be truncated or corrupt: "
            f"save the model again with {class_name}.save()."
        ) from error
    finally:
        if not isinstance(source, pathlib.Path):
            source.seek(position)
    saved_format = data.get("sb3_reinforce_save_format")
    if saved_format is None:
        raise ValueError(f"{class_name}.load(): {path} is not a {class_name} model: {describe_saved_model(data)}")
    if saved_format > SAVE_FORMAT:
        raise ValueError(
            f"{class_name}.load(): {path} was saved by a newer sb3-reinforce (save format {saved_format}; this version "
            f"reads up to {SAVE_FORMAT}). Update sb3-reinforce: in its clone, `git pull && pip install -e .`, "
            "or install a newer wheel."
        )


def describe_saved_model(data: dict[str, Any]) -> str:
    """
    What a zip that REINFORCE did not save holds, and how to load it.

    :param data: the ``data`` entry of the zip (SB3's JSON)
    :return: a sentence naming the algorithm that saved it, or its policy class when the algorithm is unknown
    """
    policy_class = data.get("policy_class")
    module = name = None
    if isinstance(policy_class, dict):
        module = policy_class.get("__module__")
        # The serialized class keeps the repr of its methods: "<function DQNPolicy.__init__ at 0x...>"
        match = re.match(r"<function (\w+)\.__init__ ", str(policy_class.get("__init__", "")))
        name = match.group(1) if match else None
    policy = f"{name or 'a policy'} from {module}" if module else "no policy class SB3 can name"
    algorithm = POLICY_MODULES.get(module or "")
    if algorithm == "stable_baselines3.TD3" and data.get("policy_delay") == 1 and data.get("target_noise_clip") == 0.0:
        algorithm = "stable_baselines3.DDPG"  # DDPG is TD3 with these settings
    if algorithm is None and module == "stable_baselines3.common.policies":
        algorithm = next((found for attribute, found in ON_POLICY_ATTRIBUTES if attribute in data), None)
    if algorithm is None:
        return f"it holds {policy}. Load it with the class of the algorithm that saved it."
    package, algorithm_class = algorithm.rsplit(".", 1)
    return (
        f"it was saved by {algorithm_class} (its policy is {policy}). Load it with that class: "
        f"`from {package} import {algorithm_class}; {algorithm_class}.load(...)`."
    )
