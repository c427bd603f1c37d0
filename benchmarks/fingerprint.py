"""
Training fingerprints: whether a change of ``sb3_reinforce/`` leaves REINFORCE's benchmark training bit-identical.

Every REINFORCE run records the hash of the algorithm's code (``code_hash``), and ``analyze.py`` flags the runs whose
hash differs from the current tree's. A change that does not touch training (documentation, the Zoo's other scripts, a
new option left off) changes the hash all the same. This script shows that such a change trains exactly as before:

    python benchmarks/fingerprint.py --against COMMIT

It clones ``COMMIT`` and the current commit (the tree must be clean), trains REINFORCE in each, through the same
RL Zoo command as the benchmark, for a few updates on every env of ``SCOPE`` with its ``reinforce.yml`` entry (seed 0,
one torch thread), and hashes the final policy's parameters and optimizer state. If every env's hash is the same
for both, it appends the pair to ``data/training_fingerprints.json``, with the command, the commits and the system;
``analyze.py`` then accepts the runs of either code hash (``common.accepted_code_hashes``). If any differs, it says which,
writes nothing, and exits with 1: the runs must be rerun.
"""

import argparse
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import torch as th
from common import (
    FINGERPRINTS,
    REPO_ROOT,
    SCOPE,
    code_hash,
    dirty_files,
    git_commit,
    system_info,
)

#: Env steps of each fingerprint run: a few updates of each entry (its n_envs x n_steps per rollout)
STEPS: dict[str, int] = {
    "CartPole-v1": 8_192,
    "Acrobot-v1": 8_192,
    "LunarLander-v3": 16_384,
    "Pendulum-v1": 8_192,
    "HalfCheetah-v5": 12_000,
    "Hopper-v5": 12_000,
    "Walker2d-v5": 12_000,
    "Ant-v5": 12_000,
}


def train_and_hash(tree: Path, env: str, workdir: Path) -> str:
    """
    Train REINFORCE with the code of ``tree`` on ``env`` for ``STEPS[env]`` steps, through the RL Zoo, and hash the
    saved model's parameters and optimizer state (``policy.pth`` and ``policy.optimizer.pth``, tensor by tensor).

    :param tree: a clone of the repository
    :param env: an env of ``SCOPE``
    :param workdir: where the Zoo writes its logs
    :return: the sha256 of the trained model, as hex
    """
    command = [
        sys.executable,
        "-m",
        "sb3_reinforce.zoo",
        "train",
        "--algo",
        "reinforce",
        "--env",
        env,
        "-n",
        str(STEPS[env]),
        "--seed",
        "0",
        "--eval-freq",
        "-1",
        "--num-threads",
        "1",
        "-f",
        str(workdir),
    ]
    # The clone's own package comes first on the path (python -m puts the working directory there)
    subprocess.run(command, cwd=tree, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    (model,) = workdir.glob(f"reinforce/{env}_*/{env}.zip")
    digest = hashlib.sha256()
    with zipfile.ZipFile(model) as archive:
        for member in ("policy.pth", "policy.optimizer.pth"):
            state = th.load(io.BytesIO(archive.read(member)), map_location="cpu", weights_only=False)
            _hash_state(digest, state)
    return digest.hexdigest()


def _hash_state(digest: "hashlib._Hash", state: object) -> None:
    """Feed a state dict (nested dicts, lists, tensors and numbers) into ``digest``, in a canonical order."""
    if isinstance(state, dict):
        for key in sorted(state, key=str):
            digest.update(str(key).encode() + b"\0")
            _hash_state(digest, state[key])
    elif isinstance(state, (list, tuple)):
        for item in state:
            _hash_state(digest, item)
    elif isinstance(state, th.Tensor):
        digest.update(str(state.dtype).encode() + str(tuple(state.shape)).encode())
        digest.update(state.detach().cpu().contiguous().numpy().tobytes())
    else:
        digest.update(repr(state).encode() + b"\0")


def fingerprints(commit: str) -> tuple[str, dict[str, str]]:
    """
    Clone ``commit`` and fingerprint its training on every env of ``SCOPE``.

    :return: the code hash of its ``sb3_reinforce/`` and the fingerprint per env
    """
    with tempfile.TemporaryDirectory(prefix="fingerprint-") as folder:
        tree = Path(folder) / "tree"
        subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(tree)], check=True)
        subprocess.run(["git", "-C", str(tree), "checkout", "-q", commit], check=True)
        result = {}
        for env in SCOPE:
            result[env] = train_and_hash(tree, env, Path(folder) / "logs" / env)
            print(f"{commit} {env}: {result[env][:16]}", flush=True)
        return code_hash(tree / "sb3_reinforce"), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", required=True, help="the commit whose training the current commit must reproduce")
    parser.add_argument("--output", type=Path, default=FINGERPRINTS)
    args = parser.parse_args(argv)
    if dirty_files():
        parser.error(f"the tree has uncommitted changes ({', '.join(dirty_files())}): commit them first")
    current = git_commit()
    old_code, old = fingerprints(args.against)
    new_code, new = fingerprints(current)
    differ = [env for env in SCOPE if old[env] != new[env]]
    if differ:
        print(f"Training differs on {', '.join(differ)}: rerun its REINFORCE runs. Nothing recorded.")
        return 1
    records = json.loads(args.output.read_text()) if args.output.exists() else []
    records.append(
        {
            "code_sha256": new_code,
            "same_training_as": old_code,
            "commit": current,
            "against": args.against,
            "fingerprints": new,
            "command": "python benchmarks/fingerprint.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "system": system_info(),
        }
    )
    args.output.write_text(json.dumps(records, indent=1) + "\n")
    print(f"Same training on {len(SCOPE)} envs: {new_code[:12]} = {old_code[:12]}, recorded in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
