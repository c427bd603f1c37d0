"""
Soak test: train REINFORCE for a long run and record the process's memory (RSS) every ``--every`` steps.

Usage::

    python benchmarks/soak.py --vec-env dummy --timesteps 1000000 --output benchmarks/soak_dummy.json
    python benchmarks/soak.py --vec-env subproc --timesteps 1000000 --output benchmarks/soak_subproc.json

CartPole-v1, 8 envs, REINFORCE defaults. It reports the RSS growth after warm-up (from the first record after
``--warmup`` steps to the end; the goal is below 5%), the largest carried-over buffer (rows allocated and
steps pending), and, for SubprocVecEnv, the worker processes still alive after ``env.close()`` and after an
exception raised in the middle of ``learn()`` (both must be 0).
"""

import argparse
import json
import multiprocessing
import os
import platform
import time

import psutil
import stable_baselines3
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import sb3_reinforce
from sb3_reinforce import REINFORCE


class MemoryRecorder(BaseCallback):
    """Record RSS (MiB, this process plus its children) and the buffer's size every ``every`` steps."""

    def __init__(self, every: int):
        super().__init__()
        self.every = every
        self.next_at = every
        self.records: list[dict[str, float]] = []

    def _rss_mib(self) -> float:
        process = psutil.Process()
        total = process.memory_info().rss
        total += sum(child.memory_info().rss for child in process.children(recursive=True))
        return total / 2**20

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_at:
            self.next_at += self.every
            assert isinstance(self.model, REINFORCE)
            buffer = self.model.rollout_buffer
            self.records.append(
                {
                    "steps": self.num_timesteps,
                    "rss_mib": round(self._rss_mib(), 1),
                    "buffer_rows": buffer.buffer_size,
                    "pending_steps": buffer.n_pending,
                    "elapsed_s": round(time.time() - self.start, 1),
                }
            )
            print(self.records[-1], flush=True)
        return True

    def _on_training_start(self) -> None:
        self.start = time.time()


class Boom(BaseCallback):
    def _on_step(self) -> bool:
        if self.num_timesteps >= 2_000:
            raise RuntimeError("boom")
        return True


def leaked_after_exception() -> int:
    """Start SubprocVecEnv workers, raise in the middle of learn(), close the env: count workers left."""
    env = make_vec_env("CartPole-v1", n_envs=4, vec_env_cls=SubprocVecEnv)
    try:
        REINFORCE("MlpPolicy", env, n_steps=64).learn(10_000, callback=Boom())
    except RuntimeError:
        pass
    finally:
        env.close()
    time.sleep(0.5)
    return len(multiprocessing.active_children())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vec-env", choices=["dummy", "subproc"], default="dummy")
    parser.add_argument("--timesteps", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=50_000)
    parser.add_argument("--warmup", type=int, default=200_000)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    th.set_num_threads(1)

    vec_env_cls = SubprocVecEnv if args.vec_env == "subproc" else DummyVecEnv
    env = make_vec_env("CartPole-v1", n_envs=8, seed=0, vec_env_cls=vec_env_cls)
    model = REINFORCE("MlpPolicy", env, seed=0, device="cpu")
    recorder = MemoryRecorder(args.every)
    model.learn(args.timesteps, callback=recorder)
    env.close()
    time.sleep(0.5)
    leaked_after_close = len(multiprocessing.active_children())

    after_warmup = [record for record in recorder.records if record["steps"] >= args.warmup]
    growth = (after_warmup[-1]["rss_mib"] - after_warmup[0]["rss_mib"]) / after_warmup[0]["rss_mib"]
    result = {
        "command": f"python benchmarks/soak.py --vec-env {args.vec_env} --timesteps {args.timesteps} "
        f"--every {args.every} --warmup {args.warmup}",
        "versions": {
            "sb3_reinforce": sb3_reinforce.__version__,
            "stable_baselines3": stable_baselines3.__version__,
            "torch": th.__version__,
            "python": platform.python_version(),
        },
        "hardware": f"{platform.machine()}, {os.cpu_count()} cores",
        "rss_growth_after_warmup_percent": round(100 * growth, 2),
        "max_buffer_rows": max(record["buffer_rows"] for record in recorder.records),
        "max_pending_steps": max(record["pending_steps"] for record in recorder.records),
        "leaked_processes_after_close": leaked_after_close,
        "records": recorder.records,
    }
    if args.vec_env == "subproc":
        result["leaked_processes_after_exception"] = leaked_after_exception()
    print(json.dumps({key: value for key, value in result.items() if key != "records"}, indent=2))
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, indent=2)


if __name__ == "__main__":
    main()
