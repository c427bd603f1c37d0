"""
The RL Zoo's Hugging Face Hub scripts as ``sb3-reinforce-zoo`` runs them (:func:`run_hub_script`): ``push_to_hub``
(evaluate a trained agent, record a replay video, write the model card, upload the folder) and ``load_from_hub``
(download an agent into the Zoo's log folder layout), with a clear error where the Hub cannot be reached.
"""

import contextlib
import importlib
import sys
from collections.abc import Iterator
from typing import Any

from sb3_reinforce.zoo.argv import PROG, run_module_with_argv
from sb3_reinforce.zoo.videos import ffmpeg_on_path

HUB_SCRIPTS = ("push_to_hub", "load_from_hub")

_HINTS = {
    "push_to_hub": "Check the network connection and your token (`hf auth login`, or the HF_TOKEN variable), which must "
    "have write access to the organization (-orga). Nothing was uploaded; the folder prepared for the upload, if any, "
    "is hub/<repo name>.",
    "load_from_hub": "Check the network connection and the repository (-orga, -name); with HF_HUB_OFFLINE=1 only the "
    "files already in the local Hugging Face cache are used. Nothing was written to the log folder.",
}


def hub_errors() -> tuple[type[BaseException], ...]:
    """
    The errors that mean "the Hugging Face Hub could not be reached, or refused the request": the HTTP errors of
    ``huggingface_hub``, a file neither on the Hub nor in the local cache, offline mode, a missing token, and the
    connection errors of the HTTP libraries it uses (``httpx``, or ``requests`` in older versions).

    :return: the exception classes
    """
    from huggingface_hub import errors

    names = ("HfHubHTTPError", "LocalEntryNotFoundError", "OfflineModeIsEnabled", "LocalTokenNotFoundError")
    classes: list[type[BaseException]] = [getattr(errors, name) for name in names if hasattr(errors, name)]
    for module_name in ("httpx2", "httpx"):
        module = sys.modules.get(module_name)
        if module is not None:
            classes.append(module.TransportError)
    with contextlib.suppress(ImportError):
        import requests

        classes.append(requests.exceptions.RequestException)
    return tuple(classes)


@contextlib.contextmanager
def _zoo_hub_compat() -> Iterator[None]:
    """
    Adapt the Zoo's hub scripts to the installed ``huggingface_sb3`` (``sb3-team-hf-integration``) and ``huggingface_hub``,
    while they run.

    rl_zoo3 limitations:

    - ``push_to_hub`` imports ``generate_metadata`` from ``huggingface_sb3.push_to_hub``, which version 3.2 names
      ``_generate_metadata`` (and returns as a ``ModelCardData``): without it, the script stops at its imports;
    - ``load_from_hub`` treats a missing ``vec_normalize.pkl`` ("no normalization") by catching ``requests``' ``HTTPError``,
      while ``huggingface_hub`` >= 1.0 raises ``RemoteEntryNotFoundError``, which is not one: without the translation
      below, loading an agent trained without ``normalize`` fails.
    """
    import huggingface_sb3

    push_module = importlib.import_module("huggingface_sb3.push_to_hub")
    download = huggingface_sb3.load_from_hub
    added_metadata = not hasattr(push_module, "generate_metadata") and hasattr(push_module, "_generate_metadata")
    if added_metadata:

        def generate_metadata(*args: Any, **kwargs: Any) -> dict[str, Any]:
            metadata = push_module._generate_metadata(*args, **kwargs)
            return metadata.to_dict() if hasattr(metadata, "to_dict") else metadata

        push_module.generate_metadata = generate_metadata  # type: ignore[attr-defined]

    import requests
    from huggingface_hub import errors

    # Not on the Hub (a file missing from the local cache, offline, is a LocalEntryNotFoundError: an error, not "missing")
    not_on_hub = getattr(errors, "RemoteEntryNotFoundError", errors.EntryNotFoundError)

    def load_from_hub(repo_id: str, filename: str) -> str:
        try:
            return download(repo_id, filename)
        except not_on_hub as error:
            if isinstance(error, requests.exceptions.HTTPError):
                raise  # huggingface_hub < 1.0: already what the Zoo catches
            raise requests.exceptions.HTTPError(f"{filename} is not in {repo_id}: {error}") from error

    huggingface_sb3.load_from_hub = load_from_hub
    try:
        yield
    finally:
        huggingface_sb3.load_from_hub = download
        if added_metadata:
            del push_module.generate_metadata


def run_hub_script(script: str, args: list[str]) -> None:
    """
    Run the Zoo's ``push_to_hub`` or ``load_from_hub``, with the same arguments.

    Where the Hub cannot be reached (or refuses the request), stop with an error naming the cause instead of a
    traceback. ``push_to_hub`` records its replay video with the ``ffmpeg`` command (see
    :func:`sb3_reinforce.zoo.videos.ffmpeg_on_path`; without it, the model is pushed without a video).

    :param script: ``push_to_hub`` or ``load_from_hub``
    :param args: its arguments
    """
    with _zoo_hub_compat(), ffmpeg_on_path():
        try:
            run_module_with_argv(f"rl_zoo3.{script}", script, args)
        except hub_errors() as error:
            print(
                f"{PROG} {script}: error: the Hugging Face Hub could not be reached or refused the request "
                f"({type(error).__name__}: {error}). {_HINTS[script]}",
                file=sys.stderr,
            )
            sys.exit(1)
        except ValueError as error:
            # huggingface_sb3 refuses to download a pickled model unless TRUST_REMOTE_CODE is set
            if "TRUST_REMOTE_CODE" not in str(error):
                raise
            print(f"{PROG} {script}: error: {error}", file=sys.stderr)
            sys.exit(2)
