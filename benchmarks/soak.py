"""
Memory of REINFORCE: a long soak on CartPole-v1, and the peak for long episodes of image observations.

Usage::

    python benchmarks/soak.py --vec-env dummy --timesteps 1000000 --output benchmarks/soak_dummy.json
    python benchmarks/soak.py --vec-env subproc --timesteps 1000000 --output benchmarks/soak_subproc.json
    python benchmarks/soak.py --memory --output benchmarks/memory.json
    python benchmarks/soak.py --memory --device cuda --output benchmarks/memory_gpu.json

Soak: CartPole-v1, 8 envs, REINFORCE defaults. It reports the RSS growth after warm-up (from the first record after
``--warmup`` steps to the end; the goal is below 5%), the largest carried-over buffer (bytes held and steps
pending), and, for SubprocVecEnv, the worker processes still alive after ``env.close()`` and after an exception
raised in the middle of ``learn()`` (both must be 0).

``--memory``: an env of 84x84x1 ``uint8`` observations (7 KB each), ``Discrete(4)`` actions and episodes of L steps;
8 envs, ``n_steps=128``, ``learn(8 L + 2048)``, with MlpPolicy (``net_arch=[32]``) and CnnPolicy, REINFORCE and A2C
each in a fresh process. It reports each peak RSS, the raw bytes of one batch of episodes (8 L observations), and
whether REINFORCE's peak is within A2C's peak plus twice those bytes.

``--memory --device cuda``: the same on a GPU, with CnnPolicy on 84x84x4 ``uint8`` frames (28 KB each, the shape
of Atari's stacked frames). It reports each run's peak GPU memory (``torch.cuda.max_memory_allocated`` over the
whole ``learn``) and steps per second, and whether REINFORCE's peak stays flat in L (at most 1.25x its peak at the
shortest L): the update's chunks bound it, not the batch, whose observations stay in host memory.
"""

import argparse
import json
import multiprocessing
import time

import numpy as np
import psutil
import torch as th
from common import FixedLengthEnv, dirty_files, git_commit, run_isolated, system_info
from gymnasium import spaces
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

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
                    "held_mib": round(buffer.held_bytes / 2**20, 1),
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


def image_run(algo: str, policy: str, length: int, device: str = "cpu", channels: int = 1) -> dict[str, float]:
    """
    Train ``algo`` on episodes of ``length`` 84x84x``channels`` frames (its peak RSS is measured by ``run_isolated``).

    :return: steps per second, and on a CUDA device the peak GPU memory in MiB
    """
    th.set_num_threads(1)
    image = spaces.Box(0, 255, (84, 84, channels), np.uint8)
    env = make_vec_env(lambda: FixedLengthEnv(length, image, n_actions=4), n_envs=8, seed=0)
    policy_kwargs = dict(net_arch=[32]) if policy == "MlpPolicy" else {}
    model_cls = REINFORCE if algo == "reinforce" else A2C
    model = model_cls(policy, env, n_steps=128, policy_kwargs=policy_kwargs, seed=0, device=device)
    start = time.perf_counter()
    model.learn(8 * length + 2048)
    result = {"steps_per_s": model.num_timesteps / (time.perf_counter() - start)}
    if device == "cuda":
        result["peak_gpu_mib"] = th.cuda.max_memory_allocated() / 2**20
    return result


def memory_gpu(lengths: list[int]) -> dict:
    rows = []
    for length in lengths:
        row: dict = {"policy": "CnnPolicy", "L": length, "batch_obs_mib": round(8 * length * 84 * 84 * 4 / 2**20, 1)}
        for algo in ("a2c", "reinforce"):
            result, _ = run_isolated(image_run, algo, "CnnPolicy", length, "cuda", 4)
            row[f"{algo}_peak_gpu_mib"] = round(result["peak_gpu_mib"])
            row[f"{algo}_steps_per_s"] = round(result["steps_per_s"])
        row["reinforce_over_a2c_steps_per_s"] = round(row["reinforce_steps_per_s"] / row["a2c_steps_per_s"], 3)
        print(row, flush=True)
        rows.append(row)
    first = rows[0]["reinforce_peak_gpu_mib"]
    return {
        "command": "python benchmarks/soak.py --memory --device cuda --lengths " + " ".join(map(str, lengths)),
        "gpu": th.cuda.get_device_name(0),
        "runs": rows,
        "reinforce_peak_flat_in_L": all(row["reinforce_peak_gpu_mib"] <= 1.25 * first for row in rows),
    }


def memory(lengths: list[int]) -> dict:
    rows = []
    for policy in ("MlpPolicy", "CnnPolicy"):
        for length in lengths:
            row: dict = {"policy": policy, "L": length, "batch_obs_mib": round(8 * length * 84 * 84 / 2**20, 1)}
            for algo in ("a2c", "reinforce"):
                row[f"{algo}_peak_rss_mib"] = round(run_isolated(image_run, algo, policy, length)[1])
            row["reinforce_minus_a2c_mib"] = row["reinforce_peak_rss_mib"] - row["a2c_peak_rss_mib"]
            row["within_a2c_plus_2x_batch"] = row["reinforce_minus_a2c_mib"] <= 2 * row["batch_obs_mib"]
            print(row, flush=True)
            rows.append(row)
    return {
        "command": "python benchmarks/soak.py --memory --lengths " + " ".join(map(str, lengths)),
        "runs": rows,
        "all_within_target": all(row["within_a2c_plus_2x_batch"] for row in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vec-env", choices=["dummy", "subproc"], default="dummy")
    parser.add_argument("--timesteps", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=50_000)
    parser.add_argument("--warmup", type=int, default=200_000)
    parser.add_argument("--memory", action="store_true", help="the image-episode memory benchmark instead")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1_000, 4_000, 8_000])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="with --memory: cuda for the GPU table")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    th.set_num_threads(1)
    if args.memory:
        table = memory_gpu(args.lengths) if args.device == "cuda" else memory(args.lengths)
        result = {"commit": git_commit(), "dirty_files": dirty_files(), "system": system_info(), **table}
        print(json.dumps(result, indent=2))
        if args.output:
            with open(args.output, "w") as file:
                json.dump(result, file, indent=2)
        return

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
        "commit": git_commit(),
        "dirty_files": dirty_files(),
        "system": system_info(),
        "rss_growth_after_warmup_percent": round(100 * growth, 2),
        "max_held_mib": max(record["held_mib"] for record in recorder.records),
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
