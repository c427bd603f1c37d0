"""
Distributed hyperparameter tuning: two ``sb3-reinforce-zoo train -optimize`` workers share one Optuna study
in a PostgreSQL database (the Zoo's ``--storage`` and ``--study-name``).

The fixture starts a throw-away PostgreSQL server on 127.0.0.1 with the server binaries of the machine
(Debian's ``/usr/lib/postgresql/*/bin``; ``.ci/postgres-setup`` installs them). PostgreSQL refuses to run as
root, so under root the server runs as the ``postgres`` user (created by Debian's package).
When no server can be started, the test is skipped, saying why; in CI (``CI=true``, set by ``.ci/run``) it fails instead.
"""

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

pytest.importorskip("rl_zoo3", reason="the Zoo integration needs the `zoo` extra: pip install -e '.[zoo]' in a clone")
optuna = pytest.importorskip("optuna")
psycopg2 = pytest.importorskip("psycopg2", reason="PostgreSQL storage needs psycopg2 (psycopg2-binary, in the `zoo` extra)")

from sb3_reinforce.zoo.cli import storage_url  # noqa: E402
from tests.test_zoo import REPO_ROOT, zoo_env  # noqa: E402

DATABASE = "optuna"
DB_USER = "zoo"
#: CI (``.ci/run``, and most CI services) sets CI=true: there the server must be available
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _no_server(reason: str) -> NoReturn:
    """Skip the test, saying why; in CI, fail it: CI installs the server binaries with ``.ci/postgres-setup``."""
    if IN_CI:
        pytest.fail(f"CI=true and no PostgreSQL server: {reason}", pytrace=False)
    pytest.skip(reason)


def _postgres_bindir() -> Path | None:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres``: the newest Debian version, else from PATH."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parent.parent.name or 0), reverse=True
    )
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> tuple[list[str], pwd.struct_passwd | None]:
    """Run the server commands as ``postgres`` when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return command, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        _no_server("running as root and there is no `postgres` user to run the PostgreSQL server as")
    runuser = shutil.which("runuser")
    if runuser is None:
        _no_server("running as root and `runuser` is missing: cannot run the PostgreSQL server as `postgres`")
    return [runuser, "-u", user.pw_name, "--", *command], user


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database on 127.0.0.1, for the session: its SQLAlchemy URL."""
    bindir = _postgres_bindir()
    if bindir is None:
        _no_server("PostgreSQL server binaries not found (no initdb): run .ci/postgres-setup to install them")

    data_root = Path(tempfile.mkdtemp(prefix="sb3-reinforce-pg-"))
    data_dir = data_root / "data"
    _, user = _as_server_user([])
    if user is not None:
        os.chown(data_root, user.pw_uid, user.pw_gid)

    def server(*command: str, check: bool = True) -> subprocess.CompletedProcess:
        full_command, _ = _as_server_user([str(bindir / command[0]), *command[1:]])
        return subprocess.run(full_command, capture_output=True, text=True, cwd=data_root, timeout=60, check=check)

    port = _free_port()
    started = False
    try:
        try:
            server("initdb", "-D", str(data_dir), "-U", DB_USER, "--auth=trust", "-E", "UTF8", "--no-locale")
            server(
                "pg_ctl",
                "-D",
                str(data_dir),
                "-l",
                str(data_root / "server.log"),
                "-w",
                "-t",
                "30",
                "-o",
                f"-h 127.0.0.1 -p {port} -k {data_root} -c fsync=off",
                "start",
            )
            started = True
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            log = data_root / "server.log"
            details = getattr(error, "stderr", "") or ""
            if log.is_file():
                details += log.read_text()[-1000:]
            _no_server(f"could not start a PostgreSQL server with {bindir}: {error}\n{details}")

        deadline = time.monotonic() + 30
        while True:
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname="postgres")
                break
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {DATABASE}")
        connection.close()
        yield f"postgresql://{DB_USER}@127.0.0.1:{port}/{DATABASE}"
    finally:
        if started:
            server("pg_ctl", "-D", str(data_dir), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(data_root, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_share_a_study(postgres_url, tmp_path):
    study_name = "reinforce-cartpole"
    # Create the study before starting the workers, as the docs recommend: two workers creating Optuna's tables
    # in an empty database at the same time can collide
    # The workers get the plain postgresql:// URL (the CLI selects the installed driver); Optuna here needs the SQLAlchemy URL
    storage = storage_url(postgres_url)
    optuna.create_study(storage=storage, study_name=study_name, direction="maximize")

    workers = []
    for worker in range(2):
        log_folder = tmp_path / f"worker{worker}"
        command = [
            sys.executable,
            "-m",
            "sb3_reinforce.zoo",
            "train",
            "--algo",
            "reinforce",
            "--env",
            "CartPole-v1",
            "-optimize",
            "--n-trials",
            "2",
            "--n-timesteps",
            "2000",
            "--sampler",
            "random",
            "--pruner",
            "none",
            "--eval-episodes",
            "2",
            "--no-optim-plots",
            "--num-threads",
            "1",
            "--seed",
            str(worker),
            # Rollouts of at most 2 * 2048 steps (instead of 8 envs)
            "-params",
            "n_envs:2",
            "--storage",
            postgres_url,
            "--study-name",
            study_name,
            "-f",
            str(log_folder),
        ]
        output = open(tmp_path / f"worker{worker}.log", "w")
        workers.append(
            (subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=zoo_env(), cwd=REPO_ROOT), output)
        )

    trial_numbers = []
    for worker, (process, output) in enumerate(workers):
        try:
            return_code = process.wait(timeout=180)
        finally:
            if process.poll() is None:
                process.kill()
            output.close()
        log = (tmp_path / f"worker{worker}.log").read_text()
        assert return_code == 0, f"worker {worker} failed:\n{log[-3000:]}"
        assert "Best trial:" in log and "Params:" in log
        # Optuna logs "Trial <number> finished with value: ..." for each trial the worker ran
        trial_numbers.append({int(number) for number in re.findall(r"Trial (\d+) finished", log)})
        assert len(trial_numbers[-1]) == 2, log[-3000:]

    study = optuna.load_study(study_name=study_name, storage=storage)
    finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    assert len(finished) >= 4, [trial.state for trial in study.trials]
    # Both workers ran their own trials in the same study
    assert trial_numbers[0].isdisjoint(trial_numbers[1])
    assert trial_numbers[0] | trial_numbers[1] <= {trial.number for trial in finished}
    assert "command" in study.user_attrs
    assert {"learning_rate", "n_steps_pow", "baseline", "net_arch"} <= set(study.best_trial.params)
