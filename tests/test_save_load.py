"""Save/load, parameters, determinism and interrupted training."""

import io
import json
import warnings
import zipfile

import numpy as np
import pytest
import torch as th
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback, CheckpointCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from sb3_reinforce import REINFORCE
from tests.helpers import FixedRewardEnv


def _params(model: REINFORCE) -> dict[str, np.ndarray]:
    return {name: value.detach().cpu().numpy().copy() for name, value in model.policy.state_dict().items()}


@pytest.mark.parametrize("baseline", [None, "value"])
def test_save_load_predict(tmp_path, baseline) -> None:
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=64, seed=0, baseline=baseline)
    model.learn(512)
    obs = env.reset()
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model")

    loaded = REINFORCE.load(tmp_path / "model", env=env)
    assert loaded.baseline == baseline and loaded.n_steps == 64
    for name, value in _params(model).items():
        assert np.array_equal(value, _params(loaded)[name]), name
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    # another device string gives the same outputs
    on_cpu = REINFORCE.load(tmp_path / "model", device="cpu")
    assert np.array_equal(on_cpu.predict(obs, deterministic=True)[0], actions)
    # training continues after load
    loaded.learn(256, reset_num_timesteps=False)
    assert loaded.num_timesteps == model.num_timesteps + 256


def test_get_set_parameters_plain_tensors(tmp_path) -> None:
    """Parameters round-trip through torch tensors alone (weights_only: no pickle)."""
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, seed=0)
    model.learn(256)
    th.save(model.get_parameters(), tmp_path / "params.pt")
    params = th.load(tmp_path / "params.pt", weights_only=True)
    fresh = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, seed=1)
    fresh.set_parameters(params, exact_match=True)
    obs = np.array([[0.01, -0.02, 0.03, 0.04]], dtype=np.float32)
    assert np.array_equal(fresh.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    for name, value in _params(model).items():
        assert np.array_equal(value, _params(fresh)[name]), name


def test_load_corrupt_file(tmp_path) -> None:
    """Not a zip, or a truncated one: ValueError, as SB3 raises for a file that is not a zip."""
    (tmp_path / "not_a_zip.zip").write_text("hello")
    with pytest.raises(ValueError, match=r"not a readable SB3 zip file.*save the model again"):
        REINFORCE.load(tmp_path / "not_a_zip.zip")
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64)
    model.save(tmp_path / "ok")
    data = (tmp_path / "ok.zip").read_bytes()
    (tmp_path / "truncated.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable SB3 zip file"):
        REINFORCE.load(tmp_path / "truncated.zip")


def test_load_missing_file(tmp_path) -> None:
    """FileNotFoundError, as SB3 raises: ``except FileNotFoundError`` keeps working."""
    with pytest.raises(FileNotFoundError, match=r"no such file: .*nothing_here"):
        REINFORCE.load(tmp_path / "nothing_here")
    with pytest.raises(FileNotFoundError, match="no such file"):
        REINFORCE.load(str(tmp_path / "nothing_here.zip"))


def _sb3_model(name: str):
    if name == "TRPO":
        sb3_contrib = pytest.importorskip("sb3_contrib", reason="sb3-contrib is in the `zoo` extra")
        return sb3_contrib.TRPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=64)
    if name == "DQN":
        return DQN("MlpPolicy", "CartPole-v1", buffer_size=100)
    if name == "SAC":
        return SAC("MlpPolicy", "Pendulum-v1", buffer_size=100)
    return {"A2C": A2C, "PPO": PPO}[name]("MlpPolicy", "CartPole-v1", n_steps=64)


@pytest.mark.parametrize(
    "name, package",
    [
        ("DQN", "stable_baselines3"),
        ("SAC", "stable_baselines3"),
        ("A2C", "stable_baselines3"),
        ("PPO", "stable_baselines3"),
        ("TRPO", "sb3_contrib"),
    ],
)
def test_load_other_algorithm(tmp_path, name, package) -> None:
    """A zip saved by another algorithm: the error names it, from what SB3 stores, and how to load it."""
    _sb3_model(name).save(tmp_path / "other")
    expected = rf"not a REINFORCE model: it was saved by {name} .*`from {package} import {name}; {name}\.load\(\.\.\.\)`"
    with pytest.raises(ValueError, match=expected):
        REINFORCE.load(tmp_path / "other")


def test_reinforce_file_loaded_by_a2c(tmp_path) -> None:
    """
    A2C.load of a REINFORCE file whose value head is fitted jointly succeeds (SB3's loader cannot tell); learn() then
    says to use REINFORCE.load. With the critic fitted apart (the default), SB3's loader refuses the critic's optimizer.
    """
    REINFORCE("MlpPolicy", "CartPole-v1", n_steps=8, n_critic_updates=None).save(tmp_path / "reinforce")
    model = A2C.load(tmp_path / "reinforce", env=make_vec_env("CartPole-v1"))
    with pytest.raises(ValueError, match=r"needs `done`.*REINFORCE\.load"):
        model.learn(16)
    REINFORCE("MlpPolicy", "CartPole-v1", n_steps=8).save(tmp_path / "critic")
    with pytest.raises(ValueError, match=r"critic\.optimizer"):
        A2C.load(tmp_path / "critic", env=make_vec_env("CartPole-v1"))


def _rewrite_data(source_path, target_path, change) -> None:
    """Copy a saved zip, with its ``data`` entry (JSON) changed by ``change``."""
    with zipfile.ZipFile(source_path) as source, zipfile.ZipFile(target_path, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "data":
                content = json.dumps(change(json.loads(content))).encode()
            target.writestr(item, content)


def test_load_unknown_zip(tmp_path) -> None:
    """An SB3 zip whose algorithm cannot be told: the error says it is not REINFORCE's and what it holds."""
    REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64).save(tmp_path / "ok")

    def other(data: dict) -> dict:
        del data["sb3_reinforce_save_format"]
        data["policy_class"]["__module__"] = "my_package.policies"
        return data

    _rewrite_data(tmp_path / "ok.zip", tmp_path / "other.zip", other)
    with pytest.raises(ValueError, match=r"not a REINFORCE model: it holds \w+ from my_package\.policies\. Load it with"):
        REINFORCE.load(tmp_path / "other.zip")


def _train_params(vec_env_cls, seed: int) -> dict[str, np.ndarray]:
    env = make_vec_env("CartPole-v1", n_envs=2, seed=seed, vec_env_cls=vec_env_cls)
    try:
        model = REINFORCE("MlpPolicy", env, n_steps=32, seed=seed, device="cpu")
        model.learn(1024)
        return _params(model)
    finally:
        env.close()


@pytest.mark.parametrize("vec_env_cls", [DummyVecEnv, pytest.param(SubprocVecEnv, marks=pytest.mark.slow)])
def test_determinism(vec_env_cls) -> None:
    first, second = _train_params(vec_env_cls, 3), _train_params(vec_env_cls, 3)
    for name in first:
        assert np.array_equal(first[name], second[name]), name
    other = _train_params(vec_env_cls, 4)
    assert any(not np.array_equal(first[name], other[name]) for name in first)


class StopAt(BaseCallback):
    """Stop training (or raise) in the middle of a rollout."""

    def __init__(self, at: int, exc: type[BaseException] | None = None):
        super().__init__()
        self.at, self.exc = at, exc

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at:
            if self.exc is not None:
                raise self.exc()
            return False
        return True


@pytest.mark.parametrize("exc", [None, KeyboardInterrupt, RuntimeError])
def test_interrupted_learn_is_consistent(tmp_path, exc) -> None:
    """Interrupt in the middle of a rollout: the model saves, loads, and trains on; no step is lost."""
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0] * 13)])
    model = REINFORCE("MlpPolicy", env, n_steps=10, seed=0, baseline=None)
    if exc is None:
        model.learn(100, callback=StopAt(25))
    else:
        with pytest.raises(exc):
            model.learn(100, callback=StopAt(25, exc))
    # the transition of the step where we stopped is in the buffer, and _last_obs follows it
    assert model.num_timesteps == 25
    # 25 steps of an episode of 13: episode 1 ended (step 13, trained), 12 steps of episode 2 wait in the buffer
    assert model.rollout_buffer.n_pending == 12
    assert float(model._last_obs[0][1]) == 25.0
    model.save(tmp_path / "interrupted")
    model.learn(100, reset_num_timesteps=False)
    REINFORCE.load(tmp_path / "interrupted", env=env).learn(50)


def test_nothing_lost_across_interrupt() -> None:
    """A stop from a callback mid-rollout, then learn(reset_num_timesteps=False): every step is used once."""
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0] * 7)])
    seen: list[int] = []

    class Record(BaseCallback):
        def _on_step(self) -> bool:
            return not (self.model.num_timesteps == 12 and not stopped)

        def _on_rollout_end(self) -> None:
            for batch in self.model.rollout_buffer.get():
                seen.extend(batch.observations[:, 1].int().tolist())

    stopped: list[bool] = []
    model = REINFORCE("MlpPolicy", env, n_steps=5, seed=0, baseline=None)
    model.learn(100, callback=Record())
    assert model.num_timesteps == 12
    stopped.append(True)
    model.learn(58, callback=Record(), reset_num_timesteps=False)
    # 12 + 58 = 70 steps = 10 episodes of 7 (the last rollout runs to step 72): each step used exactly once
    assert sorted(seen) == list(range(70))


def test_checkpoint_callback_resume(tmp_path) -> None:
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=32, seed=0)
    model.learn(256, callback=CheckpointCallback(save_freq=64, save_path=str(tmp_path), name_prefix="ck"))
    path = tmp_path / "ck_256_steps.zip"
    assert path.exists()
    resumed = REINFORCE.load(path, env=env)
    assert resumed.num_timesteps == 256
    resumed.learn(128, reset_num_timesteps=False)
    assert resumed.num_timesteps == 384


def test_save_mid_rollout(tmp_path) -> None:
    """Saving from a callback in the middle of a rollout works; carried-over steps are not saved."""

    class SaveMid(BaseCallback):
        def _on_step(self) -> bool:
            if self.num_timesteps == 37:
                self.model.save(tmp_path / "mid")
            return True

    env = DummyVecEnv([lambda: FixedRewardEnv([1.0] * 13)])
    model = REINFORCE("MlpPolicy", env, n_steps=10, seed=0)
    model.learn(60, callback=SaveMid())
    with zipfile.ZipFile(tmp_path / "mid.zip") as archive:
        assert '"rollout_buffer":' not in archive.read("data").decode()
    loaded = REINFORCE.load(tmp_path / "mid", env=env)
    loaded.learn(60, reset_num_timesteps=False)
    assert loaded._n_updates > 0


def test_load_from_bytes() -> None:
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=64, seed=0)
    model.learn(256)
    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    loaded = REINFORCE.load(buffer)
    for name, value in _params(model).items():
        assert np.array_equal(value, _params(loaded)[name]), name
    obs = env.reset()
    assert np.array_equal(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


def test_save_load_keeps_optimizer_state(tmp_path) -> None:
    """Adam's moments and step counts, and the learning rate, survive save/load: training resumes where it was."""
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, seed=0, baseline="value", device="cpu")
    model.learn(512)
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", device="cpu")
    saved, restored = model.policy.optimizer.state_dict(), loaded.policy.optimizer.state_dict()
    assert saved["state"], "the optimizer has no state after training"
    assert set(restored["state"]) == set(saved["state"])
    for index, state in saved["state"].items():
        assert set(restored["state"][index]) == set(state)
        for key, value in state.items():
            assert th.equal(th.as_tensor(restored["state"][index][key]), th.as_tensor(value)), (index, key)
    assert [group["lr"] for group in restored["param_groups"]] == [group["lr"] for group in saved["param_groups"]]
    assert [group["params"] for group in restored["param_groups"]] == [group["params"] for group in saved["param_groups"]]


def test_max_step_kl_is_saved_and_resumed(tmp_path) -> None:
    """The bound on the policy's step is saved with the model; a loaded model trains with it, and logs its KL."""
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, max_step_kl=1e-4, learning_rate=0.05, seed=0)
    model.learn(512)
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", env=make_vec_env("CartPole-v1"))
    assert loaded.max_step_kl == 1e-4
    loaded.learn(512, reset_num_timesteps=False)
    assert 0 <= loaded.logger.name_to_value["train/approx_kl"] <= 1e-4
    assert loaded.logger.name_to_value["train/step_fraction"] < 1
    # A model saved without the option (as 0.1.0 saved them) loads with the optimizer's step as it is
    _rewrite_data(
        tmp_path / "model.zip", tmp_path / "old.zip", lambda data: {k: v for k, v in data.items() if k != "max_step_kl"}
    )
    assert REINFORCE.load(tmp_path / "old.zip").max_step_kl is None


@pytest.mark.parametrize(
    "n_critic_updates, saved, expected",
    [
        (None, None, None),  # the default of 0.1.0: nothing to say
        (None, 2.0, ("with the policy's at max_grad_norm=0.5", "load it with n_critic_updates=1 and max_grad_norm=2.0")),
        (1, 2.0, ("on its own at max_grad_norm=0.5", "load it with max_grad_norm=2.0 (")),
    ],
)
def test_load_a_model_saved_with_a_removed_option(tmp_path, n_critic_updates, saved, expected) -> None:
    """
    Models saved by 0.1.0 hold ``vf_max_grad_norm``, removed since: they load without it (with a warning that says
    what the loaded model does instead, and how to get the old clipping back, when it was set), and ``load`` refuses
    it as an argument, naming what replaces it. Loading with the warning's advice clips the value head's gradient
    apart at the saved norm.
    """
    model = REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, n_critic_updates=n_critic_updates, seed=0)
    model.learn(256)
    model.save(tmp_path / "model")
    observations = model.get_env().reset()  # type: ignore[union-attr]
    actions, _ = model.predict(observations, deterministic=True)
    _rewrite_data(tmp_path / "model.zip", tmp_path / "old.zip", lambda data: {**data, "vf_max_grad_norm": saved})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = REINFORCE.load(tmp_path / "old.zip", env=make_vec_env("CartPole-v1"))
    messages = [str(warning.message) for warning in caught if "vf_max_grad_norm" in str(warning.message)]
    assert len(messages) == (expected is not None)
    if expected is not None:
        assert "vf_max_grad_norm=2.0, an option removed after sb3-reinforce 0.1.0" in messages[0]
        assert all(fragment in messages[0] for fragment in expected), messages[0]
    assert "vf_max_grad_norm" not in loaded.__dict__
    assert np.array_equal(loaded.predict(observations, deterministic=True)[0], actions)
    loaded.learn(128, reset_num_timesteps=False)
    loaded.save(tmp_path / "again")
    with zipfile.ZipFile(tmp_path / "again.zip") as archive:
        assert "vf_max_grad_norm" not in json.loads(archive.read("data"))
    if expected is not None:
        advice = {"n_critic_updates": 1, "max_grad_norm": saved} if n_critic_updates is None else {"max_grad_norm": saved}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            advised = REINFORCE.load(tmp_path / "old.zip", env=make_vec_env("CartPole-v1"), **advice)
        assert advised.critic is not None and not advised.critic.joint
        assert advised.max_grad_norm == saved
        assert np.array_equal(advised.predict(observations, deterministic=True)[0], actions)
        advised.learn(128, reset_num_timesteps=False)
    with pytest.raises(TypeError, match=r"load\(\) got an unexpected keyword argument. vf_max_grad_norm: removed"):
        REINFORCE.load(tmp_path / "model.zip", vf_max_grad_norm=1.0)


def _without(data: dict, name: str) -> dict:
    return {key: value for key, value in data.items() if key != name}


def test_load_newer_format(tmp_path) -> None:
    REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64).save(tmp_path / "ok")
    _rewrite_data(tmp_path / "ok.zip", tmp_path / "newer.zip", lambda data: {**data, "sb3_reinforce_save_format": 99})
    with pytest.raises(ValueError, match=r"newer sb3-reinforce.*format 99") as error:
        REINFORCE.load(tmp_path / "newer.zip")
    # sb3-reinforce is not on PyPI: the message points at what works
    assert "git pull && pip install -e ." in str(error.value) and "pip install -U" not in str(error.value)


def test_episode_running_at_load_is_dropped_when_it_ends(tmp_path) -> None:
    """
    load(..., force_reset=False) continues the env's running episode, whose start the model never saw: its steps are
    dropped when it ends (counted in train/dropped_transitions); with the default force_reset=True, nothing is dropped.
    """
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0] * 10)])
    model = REINFORCE("MlpPolicy", env, n_steps=4, seed=0)
    model.learn(4)
    model.save(tmp_path / "model")
    for force_reset, dropped in ((False, 6), (True, 0)):
        loaded = REINFORCE.load(tmp_path / "model", env=env, force_reset=force_reset)
        loaded.learn(12, reset_num_timesteps=False)
        assert loaded.rollout_buffer.dropped_steps == dropped, force_reset
        assert loaded.logger.name_to_value["train/dropped_transitions"] == dropped
