"""Export of a trained policy: the recipe of docs/reinforce.md ("Export a trained policy"), checked against predict."""

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.envs import FakeImageEnv, IdentityEnv, SimpleMultiObsEnv
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sb3_reinforce import REINFORCE

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def _no_distribution_checks():
    """
    The recipe switches off torch.distributions' argument checks while exporting: they test the values of the
    logits, which torch.export cannot trace and the TorchScript tracer bakes in as constants (with a warning).
    """
    validate_args = th.distributions.Distribution._validate_args
    th.distributions.Distribution.set_default_validate_args(False)
    yield
    th.distributions.Distribution.set_default_validate_args(validate_args)


class OnnxableActor(th.nn.Module):
    """
    The actor of a policy: observation -> the action of ``predict(observation, deterministic=True)``.

    The policy's own ``forward`` preprocesses the observation (one-hot, images / 255, Dict observations) and takes the
    mode of the action distribution; Box actions are then clipped to the action space, or unscaled from [-1, 1] with
    ``squash_output=True``, as ``predict`` does. A Dict observation comes as one input per key, in the order of
    ``policy.observation_space.spaces``.

    :param policy: the policy of a model (``model.policy``), on the CPU
    """

    def __init__(self, policy: ActorCriticPolicy):
        super().__init__()
        self.policy = policy
        observation_space = policy.observation_space
        self.keys = list(observation_space.spaces) if isinstance(observation_space, spaces.Dict) else None
        action_space = policy.action_space
        self.box = isinstance(action_space, spaces.Box)
        low, high = (action_space.low, action_space.high) if isinstance(action_space, spaces.Box) else (0.0, 0.0)
        self.low: th.Tensor
        self.high: th.Tensor
        self.register_buffer("low", th.as_tensor(low))
        self.register_buffer("high", th.as_tensor(high))

    def forward(self, *observation: th.Tensor) -> th.Tensor:
        obs = dict(zip(self.keys, observation, strict=True)) if self.keys is not None else observation[0]
        actions = self.policy(obs, deterministic=True)[0]
        if self.box and self.policy.squash_output:
            return self.low + 0.5 * (actions + 1.0) * (self.high - self.low)
        if self.box:
            return th.clamp(actions, self.low, self.high)
        return actions


def _input_names(policy: ActorCriticPolicy) -> list[str]:
    observation_space = policy.observation_space
    return list(observation_space.spaces) if isinstance(observation_space, spaces.Dict) else ["obs"]


def _export_onnx(model: REINFORCE, path: str, dynamo: bool = False) -> None:
    """The recipe: export the actor with a dynamic batch size."""
    actor = OnnxableActor(model.policy).eval()
    names = _input_names(model.policy)
    observation = model.observation_space.sample()
    samples = [observation[name] for name in names] if isinstance(observation, dict) else [observation]
    dummy = tuple(th.as_tensor(np.stack([sample, sample])) for sample in samples)
    # A dynamic batch size: per input for the newer exporter (one entry for the *observation tuple of forward), per
    # name for the older one
    batch: dict = (
        dict(dynamic_shapes=(tuple({0: th.export.Dim("batch")} for _ in names),))
        if dynamo
        else dict(dynamic_axes={name: {0: "batch"} for name in [*names, "action"]})
    )
    th.onnx.export(actor, dummy, path, input_names=names, output_names=["action"], dynamo=dynamo, **batch)


def _observations(model: REINFORCE, n: int = 16) -> dict[str, np.ndarray]:
    """A batch of n observations, as the inputs of the exported graph."""
    model.observation_space.seed(0)
    samples = [model.observation_space.sample() for _ in range(n)]
    if isinstance(model.observation_space, spaces.Dict):
        return {key: np.stack([sample[key] for sample in samples]) for key in model.observation_space.spaces}
    return {"obs": np.stack(samples)}


def _predict(model: REINFORCE, inputs: dict[str, np.ndarray]) -> np.ndarray:
    obs = inputs if isinstance(model.observation_space, spaces.Dict) else inputs["obs"]
    return model.predict(obs, deterministic=True)[0]


def _assert_same_actions(model: REINFORCE, actions: np.ndarray, expected: np.ndarray) -> None:
    assert actions.shape == expected.shape and actions.dtype == expected.dtype
    if isinstance(model.action_space, spaces.Box):
        assert np.allclose(actions, expected, atol=1e-5)
        assert np.all(actions >= model.action_space.low) and np.all(actions <= model.action_space.high)
    else:
        assert np.array_equal(actions, expected)


def _push_beyond_bounds(model: REINFORCE) -> REINFORCE:
    """Gaussian means well outside [low, high], so that the test sees the clipping (or unscaling) of predict."""
    action_net = model.policy.action_net
    assert isinstance(action_net, th.nn.Linear)
    with th.no_grad():
        action_net.bias.fill_(5.0)
    return model


CASES: dict[str, Callable[[], REINFORCE]] = {
    "Discrete": lambda: REINFORCE("MlpPolicy", "CartPole-v1", n_steps=64, seed=0, device="cpu").learn(256),
    "Box": lambda: _push_beyond_bounds(REINFORCE("MlpPolicy", "Pendulum-v1", n_steps=64, seed=0, device="cpu").learn(256)),
    "Box-gSDE": lambda: _push_beyond_bounds(REINFORCE("MlpPolicy", "Pendulum-v1", use_sde=True, seed=0, device="cpu")),
    "Box-gSDE-squash": lambda: _push_beyond_bounds(
        REINFORCE("MlpPolicy", "Pendulum-v1", use_sde=True, policy_kwargs={"squash_output": True}, seed=0, device="cpu")
    ),
    "MultiDiscrete": lambda: REINFORCE("MlpPolicy", IdentityEnv(space=spaces.MultiDiscrete([3, 4])), seed=0, device="cpu"),
    "MultiBinary": lambda: REINFORCE("MlpPolicy", IdentityEnv(space=spaces.MultiBinary(3)), seed=0, device="cpu"),
    # Discrete observations: one-hot inside the graph
    "Discrete-obs": lambda: REINFORCE("MlpPolicy", IdentityEnv(dim=5), seed=0, device="cpu"),
    "MultiInputPolicy": lambda: REINFORCE("MultiInputPolicy", SimpleMultiObsEnv(random_start=False), seed=0, device="cpu"),
    # uint8 images, divided by 255 inside the graph
    "CnnPolicy": lambda: REINFORCE(
        "CnnPolicy", FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=False), seed=0, device="cpu"
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_onnx_matches_predict(tmp_path, case) -> None:
    model = CASES[case]()
    path = str(tmp_path / "actor.onnx")
    _export_onnx(model, path)
    onnx.checker.check_model(onnx.load(path))

    inputs = _observations(model)
    (actions,) = ort.InferenceSession(path).run(None, inputs)
    _assert_same_actions(model, actions, _predict(model, inputs))


@pytest.mark.parametrize("case", ["Discrete", "Box"])
def test_onnx_dynamo_exporter(tmp_path, case) -> None:
    """torch's newer exporter (the default since torch 2.9) needs onnxscript."""
    pytest.importorskip("onnxscript")
    model = CASES[case]()
    path = str(tmp_path / "actor.onnx")
    _export_onnx(model, path, dynamo=True)

    inputs = _observations(model)
    (actions,) = ort.InferenceSession(path).run(None, inputs)
    _assert_same_actions(model, actions, _predict(model, inputs))


@pytest.mark.parametrize("case", list(CASES))
def test_torchscript_matches_predict(tmp_path, case) -> None:
    model = CASES[case]()
    inputs = _observations(model)
    tensors = [th.as_tensor(value) for value in inputs.values()]
    traced = th.jit.freeze(th.jit.trace(OnnxableActor(model.policy).eval(), tuple(tensor[:2] for tensor in tensors)))
    th.jit.save(traced, tmp_path / "actor.pt")

    actions = th.jit.load(tmp_path / "actor.pt")(*tensors).numpy()
    _assert_same_actions(model, actions, _predict(model, inputs))


def test_onnx_with_vec_normalize(tmp_path) -> None:
    """The exported graph takes normalized observations: the documented formula on the saved statistics gives them."""
    vec_env = VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1")]), norm_reward=False)
    model = REINFORCE("MlpPolicy", vec_env, n_steps=64, seed=0, device="cpu").learn(256)
    path = str(tmp_path / "actor.onnx")
    _export_onnx(model, path)
    vec_env.save(str(tmp_path / "vec_normalize.pkl"))

    # what a runtime outside Python keeps: mean, var, epsilon, clip_obs
    stats = VecNormalize.load(str(tmp_path / "vec_normalize.pkl"), DummyVecEnv([lambda: gym.make("CartPole-v1")]))
    assert isinstance(stats.obs_rms, RunningMeanStd)
    mean, var = stats.obs_rms.mean, stats.obs_rms.var
    raw = _observations(model)["obs"] * 3.0
    normalized = np.clip((raw - mean) / np.sqrt(var + stats.epsilon), -stats.clip_obs, stats.clip_obs).astype(np.float32)
    expected = stats.normalize_obs(raw)
    assert isinstance(expected, np.ndarray) and np.allclose(normalized, expected, atol=1e-6)

    (actions,) = ort.InferenceSession(path).run(None, {"obs": normalized})
    assert np.array_equal(actions, model.predict(vec_env.normalize_obs(raw), deterministic=True)[0])
