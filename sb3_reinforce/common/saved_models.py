"""Checks run by ``REINFORCE.load`` before SB3's own loader: is the file a readable zip saved by REINFORCE?"""

import io
import json
import pathlib
import zipfile
from typing import Any

# Version of what REINFORCE writes into its zip files. Raise it when a change makes older readers fail.
SAVE_FORMAT = 1


def check_saved_model(path: str | pathlib.Path | io.BufferedIOBase, class_name: str) -> None:
    """Raise a ValueError naming the problem if ``path`` is not a zip saved by REINFORCE in a known format."""
    if isinstance(path, (str, pathlib.Path)):
        path = pathlib.Path(path)
        if not path.exists() and path.with_name(path.name + ".zip").exists():
            path = path.with_name(path.name + ".zip")
        if not path.exists():
            raise ValueError(f"load(): no such file: {path}")
        source: Any = path
    else:
        source = path
        position = path.tell()
    try:
        with zipfile.ZipFile(source) as archive:
            if archive.testzip() is not None or "data" not in archive.namelist():
                raise zipfile.BadZipFile("missing or corrupt 'data' entry")
            data = json.loads(archive.read("data").decode())
    except (zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"load(): {path} is not a readable SB3 zip file ({error}). It may be truncated or corrupt: "
            f"save the model again with {class_name}.save()."
        ) from error
    finally:
        if not isinstance(source, pathlib.Path):
            source.seek(position)
    saved_format = data.get("sb3_reinforce_save_format")
    if saved_format is None:
        guess = "PPO" if "clip_range" in data else "A2C" if "gae_lambda" in data else "another SB3 algorithm"
        raise ValueError(
            f"load(): {path} was not saved by {class_name} (it looks like a {guess} model). "
            f"Load it with that algorithm's class, e.g. stable_baselines3.{guess}.load(...)."
        )
    if saved_format > SAVE_FORMAT:
        raise ValueError(
            f"load(): {path} was saved by a newer sb3-reinforce (save format {saved_format}; this version reads "
            f"up to {SAVE_FORMAT}). Upgrade sb3-reinforce: pip install -U sb3-reinforce."
        )
