"""
The RL Zoo's ``record_training`` as ``sb3-reinforce-zoo`` runs it (:func:`run_record_training`), and :func:`ffmpeg_on_path`,
which it shares with ``push_to_hub`` (the replay video).
"""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from sb3_reinforce.zoo.argv import PROG, run_module_with_argv

#: How the Zoo's ``record_training`` starts ``record_video``: ``["python", "-m", RECORD_VIDEO_MODULE, ARGS...]``
RECORD_VIDEO_MODULE = "rl_zoo3.record_video"


@contextlib.contextmanager
def ffmpeg_on_path() -> Iterator[bool]:
    """
    Make sure an ``ffmpeg`` command is on ``PATH`` while a Zoo script runs.

    rl_zoo3 limitation: ``record_training`` (and ``push_to_hub``'s replay video, made by ``huggingface_sb3``) run
    ``ffmpeg`` through the shell and go on when it is missing (``record_training`` then fails on a file it did not make).

    If ``PATH`` has no ``ffmpeg``, the binary of ``imageio-ffmpeg`` (installed with ``moviepy``, which the Zoo's videos
    need anyway) is put first on ``PATH`` under the name ``ffmpeg``, for this process and its children.

    :return: a context manager giving whether ``ffmpeg`` is available
    """
    if shutil.which("ffmpeg") is not None:
        yield True
        return
    try:
        import imageio_ffmpeg

        executable = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        yield False
        return
    saved_path = os.environ.get("PATH")
    with tempfile.TemporaryDirectory(prefix="sb3-reinforce-ffmpeg-") as folder:
        os.symlink(executable, os.path.join(folder, "ffmpeg"))
        os.environ["PATH"] = os.pathsep.join(filter(None, [folder, saved_path]))
        try:
            yield True
        finally:
            if saved_path is None:
                os.environ.pop("PATH", None)
            else:
                os.environ["PATH"] = saved_path


@contextlib.contextmanager
def record_video_through_plugin() -> Iterator[None]:
    """
    While the Zoo's ``record_training`` runs in this process, start its ``record_video`` children through this command:
    ``python -m rl_zoo3.record_video ARGS...`` becomes ``<this Python> -m sb3_reinforce.zoo record_video ARGS...``,
    with the same arguments, so that the children know ``--algo reinforce`` too. Other calls are left unchanged.

    rl_zoo3 limitation: ``record_training`` calls ``subprocess.call(["python", "-m", "rl_zoo3.record_video", ...])``,
    a fresh process where only the Zoo's own algorithms are registered (and ``python`` is whichever is first on ``PATH``).
    """
    call = subprocess.call

    def call_through_plugin(command: Any, *args: Any, **kwargs: Any) -> int:
        if isinstance(command, (list, tuple)) and list(command[1:3]) == ["-m", RECORD_VIDEO_MODULE]:
            command = [sys.executable, "-m", "sb3_reinforce.zoo", "record_video", *command[3:]]
        return call(command, *args, **kwargs)

    subprocess.call = call_through_plugin  # type: ignore[assignment]
    try:
        yield
    finally:
        subprocess.call = call


def run_record_training(args: list[str]) -> None:
    """
    Run the Zoo's ``record_training`` (a video of each checkpoint, the best and the final model, joined into
    ``training.mp4``, and ``training.gif`` with ``-g``), with REINFORCE registered in its ``record_video`` children
    too (see :func:`record_video_through_plugin`) and ``ffmpeg`` on ``PATH`` (see :func:`ffmpeg_on_path`).

    :param args: the arguments of ``record_training``
    """
    with ffmpeg_on_path() as found:
        if not found and not ("-h" in args or "--help" in args):
            print(
                f"{PROG} record_training: error: ffmpeg was not found: record_training joins the videos with the ffmpeg "
                "command. Install it (e.g. `apt install ffmpeg`), or install imageio-ffmpeg (`pip install imageio-ffmpeg`), "
                "whose ffmpeg is used when none is on PATH.",
                file=sys.stderr,
            )
            sys.exit(2)
        with record_video_through_plugin():
            run_module_with_argv("rl_zoo3.record_training", "record_training", args)
