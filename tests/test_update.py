"""The update of train(): chunks, the staleness correction, and the constant divisor of the policy loss."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_reinforce import REINFORCE
from tests.helpers import FixedRewardEnv


def test_chunked_and_whole_updates_give_the_same_parameters() -> None:
    def train(chunk_size: int | None) -> dict[str, th.Tensor]:
        env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
        model = REINFORCE("MlpPolicy", env, n_steps=128, seed=0, chunk_size=chunk_size, device="cpu")
        model.learn(3 * 256)
        assert model._n_updates == 3
        return model.policy.state_dict()

    whole, chunked = train(None), train(17)
    for name, value in whole.items():
        assert th.allclose(value, chunked[name], atol=1e-6), name


def test_no_forward_pass_exceeds_the_chunk() -> None:
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=64, seed=0, chunk_size=10)
    sizes: dict[str, list[int]] = {}
    # the actor's passes (get_distribution: the rollout's and the update's) and the critic's (predict_values)
    for name in ("get_distribution", "predict_values"):
        method = getattr(model.policy, name)

        def recorded(obs, *args, method=method, name=name):
            sizes.setdefault(name, []).append(len(obs))
            return method(obs, *args)

        setattr(model.policy, name, recorded)
    model.learn(256)
    for name in ("get_distribution", "predict_values"):
        assert max(sizes[name]) == 10 and sizes[name].count(10) > 20, name


def _one_stale_update(stale_correction: bool, n_steps: int) -> tuple[th.Tensor, dict, float]:
    """
    One 5-step episode collected over two rollouts of ``n_steps``, with the policy moved between them; the update's
    gradient of the actor, the batch, and the logged stale fraction.
    """
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0, 0.0, 2.0, 0.0, 3.0])])
    model = REINFORCE(
        "MlpPolicy",
        env,
        n_steps=n_steps,
        seed=0,
        baseline=None,
        normalize_advantage=False,
        max_grad_norm=float("inf"),
        stale_correction=stale_correction,
        policy_kwargs=dict(net_arch=[]),
        device="cpu",
    )
    model.learn(n_steps)
    with th.no_grad():
        model.policy.action_net.weight.add_(th.tensor([[0.3, -0.2], [-0.3, 0.2]]))
    recorded: dict = {}

    class Batch(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            recorded["batch"] = next(self.model.rollout_buffer.get())

    step = model.policy.optimizer.step
    model.policy.optimizer.step = lambda *a, **k: recorded.setdefault("grad", model.policy.action_net.weight.grad.clone())
    model.learn(n_steps, callback=Batch(), reset_num_timesteps=False)
    model.policy.optimizer.step = step
    return recorded["grad"], recorded["batch"], model.logger.name_to_value["train/stale_fraction"]


def test_stale_correction_weights_stale_steps_only() -> None:
    grad, batch, stale_fraction = _one_stale_update(True, n_steps=3)
    plain_grad, _, _ = _one_stale_update(False, n_steps=3)
    # 3 steps from the first rollout (stale), 2 from the second
    assert list(batch.stale.numpy()) == [True, True, True, False, False] and stale_fraction == pytest.approx(0.6)
    assert not th.allclose(grad, plain_grad)
    # by hand: step t's term weighted by min(1, pi/pi_old) if stale, by 1 otherwise; N = n_steps * n_envs = 3
    policy = copy.deepcopy(_policy_after_move())
    log_prob = policy.get_distribution(batch.observations).log_prob(batch.actions.long().flatten())
    ratio = th.exp(log_prob.detach() - batch.old_log_prob).clamp(max=1.0)
    weights = th.where(batch.stale, ratio, th.ones_like(ratio))
    assert (ratio[batch.stale] < 1).any() and th.equal(weights[~batch.stale], th.ones(2))
    (expected,) = th.autograd.grad(
        -(batch.returns * weights * log_prob).sum() / 3, policy.action_net.weight, retain_graph=True
    )
    assert th.allclose(grad, expected, atol=1e-6)
    (uncorrected,) = th.autograd.grad(-(batch.returns * log_prob).sum() / 3, policy.action_net.weight)
    assert th.allclose(plain_grad, uncorrected, atol=1e-6)


def _policy_after_move():
    """The policy of ``_one_stale_update`` when it takes its update (the same seed, the same move)."""
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0, 0.0, 2.0, 0.0, 3.0])])
    model = REINFORCE("MlpPolicy", env, n_steps=3, seed=0, baseline=None, policy_kwargs=dict(net_arch=[]), device="cpu")
    model.learn(3)
    with th.no_grad():
        model.policy.action_net.weight.add_(th.tensor([[0.3, -0.2], [-0.3, 0.2]]))
    return model.policy


def test_stale_correction_changes_nothing_without_stale_steps() -> None:
    # n_steps=5: the episode fits in one rollout, no step is stale
    grad, batch, stale_fraction = _one_stale_update(True, n_steps=5)
    plain_grad, _, _ = _one_stale_update(False, n_steps=5)
    assert not batch.stale.any() and stale_fraction == 0.0
    assert th.equal(grad, plain_grad)


def test_policy_loss_divisor() -> None:
    env = make_vec_env("CartPole-v1", n_envs=3)
    assert REINFORCE("MlpPolicy", env, n_steps=16).policy_loss_divisor == 48
    assert REINFORCE("MlpPolicy", env, n_steps=16, n_episodes=7).policy_loss_divisor == 7
    assert np.isclose(REINFORCE("MlpPolicy", env, n_steps=16, chunk_size=5).policy_loss_divisor, 48)


def _action_net_change(n_critic_updates: int | None) -> float:
    """How far the actor moves in 5 updates when the returns are in the 100,000s (joint or separate critic)."""
    env = DummyVecEnv([lambda: FixedRewardEnv([1e5, 3e5, 2e5, 1e5])])
    kwargs = dict(batch_size=4) if n_critic_updates else {}
    model = REINFORCE(
        "MlpPolicy", env, n_steps=8, seed=0, device="cpu", n_critic_updates=n_critic_updates,
        normalize_value_targets=False, **kwargs,
    )  # fmt: skip
    before = model.policy.action_net.weight.detach().clone()
    model.learn(40)
    assert model._n_updates == 5
    return float((model.policy.action_net.weight.detach() - before).abs().max())


def test_separate_critic_leaves_the_policy_its_gradient() -> None:
    """
    Fitted jointly, the value loss of returns in the 100,000s takes nearly all of the clipped gradient norm (0.5):
    the actor hardly moves. Fitted apart, the actor's own clipped step is the same as with small returns.
    """
    joint, separate = _action_net_change(None), _action_net_change(3)
    print(f"actor change in 5 updates: joint {joint:.2e}, separate {separate:.2e}")
    assert separate > 20 * joint


def test_separate_critic_fits_the_value_head_after_the_policy_step() -> None:
    env = DummyVecEnv([lambda: FixedRewardEnv([1.0, 2.0, 3.0])])
    model = REINFORCE("MlpPolicy", env, n_steps=6, seed=0, n_critic_updates=4, batch_size=2, vf_learning_rate=0.01)
    assert model.critic is not None
    critic_ids = {id(p) for p in model.critic.parameters}
    actor_only = [p for p in model.policy.action_net.parameters()]
    assert critic_ids == {id(p) for p in model.policy.value_net.parameters()} | {
        id(p) for p in model.policy.mlp_extractor.value_net.parameters()
    }
    assert not critic_ids.intersection(id(p) for p in actor_only)
    model.learn(12)
    # 2 updates x 4 passes x 3 minibatches of 2 steps (6 steps a batch)
    state = model.critic.optimizer.state_dict()["state"]
    assert all(int(s["step"]) == 2 * 4 * 3 for s in state.values())
    assert model.logger.name_to_value["train/vf_learning_rate"] == 0.01
    assert "train/value_loss" in model.logger.name_to_value


def test_separate_critic_save_and_load(tmp_path) -> None:
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = REINFORCE("MlpPolicy", env, n_steps=64, seed=0, n_critic_updates=3, batch_size=32, vf_learning_rate=3e-3)
    model.learn(512)
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", env=env)
    assert loaded.critic is not None and model.critic is not None
    assert (loaded.n_critic_updates, loaded.batch_size, loaded.vf_learning_rate) == (3, 32, 3e-3)
    saved, restored = model.critic.optimizer.state_dict(), loaded.critic.optimizer.state_dict()
    assert saved["state"].keys() == restored["state"].keys() and saved["state"]
    for key, state in saved["state"].items():
        for name, value in state.items():
            # On a GPU, torch keeps Adam's "step" where the file was loaded to (the device), not on the CPU
            assert th.equal(th.as_tensor(value).cpu(), th.as_tensor(restored["state"][key][name]).cpu()), name
    obs = env.reset()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    steps = int(next(iter(restored["state"].values()))["step"])
    loaded.learn(256, reset_num_timesteps=False)
    assert int(next(iter(loaded.critic.optimizer.state_dict()["state"].values()))["step"]) > steps


@pytest.mark.parametrize("batch_size", [32, None])
def test_critic_fit_is_the_same_read_whole_or_in_chunks(batch_size: int | None) -> None:
    model = REINFORCE("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2, seed=0), n_steps=64, seed=0, device="cpu")
    model.n_critic_updates, model.batch_size = 3, batch_size
    model._setup_model()
    model.learn(128)  # leaves its last batch in the buffer
    assert model.critic is not None and model.critic.optimizer is not None
    buffer, critic = model.rollout_buffer, model.critic
    start = copy.deepcopy(model.policy.state_dict()), copy.deepcopy(critic.optimizer.state_dict())
    fitted = []
    # the whole batch in one pass, then in passes of a minibatch (32), or of 50 steps (full batch)
    for chunk_size in (buffer.batch_steps, batch_size or 50):
        model.policy.load_state_dict(start[0])
        critic.optimizer.load_state_dict(copy.deepcopy(start[1]))  # load_state_dict keeps its tensors
        critic.chunk_size = chunk_size
        np.random.seed(1)
        critic.fit(buffer, 1.0)
        fitted.append(copy.deepcopy(model.policy.state_dict()))
    for name, value in fitted[0].items():
        if batch_size is None:  # summed over different chunks: equal up to float rounding
            assert th.allclose(value, fitted[1][name], atol=1e-6), name
        else:  # each minibatch is one chunk either way: the same floats
            assert th.equal(value, fitted[1][name]), name


STEP_REWARDS = (1.0, 0.0, 2.0, 0.0, 3.0, 1.0)


class _StepIndexEnv(gym.Env):
    """Episodes of 6 steps; step k pays ``scale * STEP_REWARDS[k]`` whatever the action; the observation is one-hot k."""

    observation_space = spaces.Box(0.0, 1.0, (6,), np.float32)
    action_space = spaces.Discrete(2)

    def __init__(self, scale: float):
        self.scale, self.k = scale, 0

    def _obs(self) -> np.ndarray:
        return np.eye(6, dtype=np.float32)[self.k]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.k = 0
        return self._obs(), {}

    def step(self, action):
        reward, self.k = self.scale * STEP_REWARDS[self.k], self.k + 1
        terminated = self.k == 6
        if terminated:
            self.k = 0
        return self._obs(), reward, terminated, False, {}


def _value_head_fit(normalize: bool, scale: float) -> tuple[float, REINFORCE]:
    """Explained variance of the value baseline after 600 steps on returns scaled by ``scale`` (separate critic)."""
    env = DummyVecEnv([lambda: _StepIndexEnv(scale)] * 2)
    model = REINFORCE(
        "MlpPolicy", env, n_steps=12, seed=0, device="cpu", n_critic_updates=4, vf_learning_rate=3e-3,
        normalize_value_targets=normalize,
    )  # fmt: skip
    model.learn(600)
    return model.logger.name_to_value["train/explained_variance"], model


@pytest.mark.slow
def test_normalized_value_targets_fit_at_any_reward_scale() -> None:
    """
    The same fit on returns of about 5 and of about 50,000: with raw targets the head, at the same learning rate, is
    far off on the large ones; with normalized targets it explains the returns equally well at both scales, and
    V(s_t) comes back in the returns' scale (the statistics are the returns' running mean and std).
    """
    raw_small, _ = _value_head_fit(False, 1.0)
    raw_large, _ = _value_head_fit(False, 1e4)
    small, _ = _value_head_fit(True, 1.0)
    large, model = _value_head_fit(True, 1e4)
    print(f"explained variance, raw targets: {raw_small:.3f} / {raw_large:.3f}; normalized: {small:.3f} / {large:.3f}")
    assert small > 0.9 and large > 0.9
    assert raw_large < 0.5
    # G_t of the 6-step episode with gamma=0.99: the running mean is their mean (every step of every episode)
    returns = [sum(0.99**k * r for k, r in enumerate(STEP_REWARDS[t:])) for t in range(6)]
    assert np.isclose(model.value_targets.mean, 1e4 * np.mean(returns), rtol=1e-3)
    assert np.isclose(model.value_targets.std, 1e4 * np.std(returns), rtol=1e-3)
    assert model.logger.name_to_value["train/value_target_mean"] == model.value_targets.mean


def test_normalized_value_targets_save_and_load(tmp_path) -> None:
    _, model = _value_head_fit(True, 100.0)
    model.save(tmp_path / "model")
    loaded = REINFORCE.load(tmp_path / "model", env=model.get_env(), device=model.device)
    assert loaded.normalize_value_targets and loaded.value_targets.normalize
    assert (loaded.value_targets.mean, loaded.value_targets.std) == (model.value_targets.mean, model.value_targets.std)
    assert loaded.value_targets.rms.count == model.value_targets.rms.count
    obs = th.eye(6)
    values = [m.value_targets.values(m.policy.predict_values(obs)) for m in (model, loaded)]
    assert th.equal(values[0], values[1])
    # Continued training: the same parameters and statistics as the model that was saved, trained the same way
    for m in (model, loaded):
        m.set_random_seed(1)
        m.learn(240)
    assert loaded.value_targets.rms.count == model.value_targets.rms.count
    for (name, before), after in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values(), strict=True):
        assert th.equal(before, after), name
    # Turned off when loading: the head's outputs are taken as they are, not with the saved statistics
    plain = REINFORCE.load(tmp_path / "model", env=model.get_env(), device=model.device, normalize_value_targets=False)
    assert not plain.value_targets.normalize and plain.value_targets.mean == 0.0


class _Frames(gym.Env):
    """84x84x1 uint8 frames, 2 actions, episodes of 64 steps."""

    observation_space = spaces.Box(0, 255, (84, 84, 1), np.uint8)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        return self.observation_space.sample(), float(action), self.t >= 64, False, {}


@pytest.mark.skipif(not th.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_peak_memory_is_bounded_by_the_chunk(tmp_path) -> None:
    """On a GPU, the update's peak memory follows the chunk, not the batch; the model then loads on the CPU."""

    def peak_in_train(chunk_size: int) -> tuple[int, REINFORCE]:
        model = REINFORCE(
            "CnnPolicy", make_vec_env(_Frames, n_envs=8, seed=0), n_steps=64, seed=0, device="cuda", chunk_size=chunk_size
        )
        train = model.train

        def measured_train() -> None:
            th.cuda.synchronize()
            th.cuda.reset_peak_memory_stats()
            start = th.cuda.memory_allocated()
            train()
            th.cuda.synchronize()
            peaks.append(th.cuda.max_memory_allocated() - start)

        peaks: list[int] = []
        model.train = measured_train  # type: ignore[method-assign]
        model.learn(512)
        del model.train  # back to the class's method: the wrapper cannot be saved
        return max(peaks), model

    whole, _ = peak_in_train(512)
    chunked, model = peak_in_train(32)
    print(
        f"peak GPU memory of train(): whole batch of 512 steps {whole / 2**20:.0f} MiB, chunks of 32 {chunked / 2**20:.0f} MiB"
    )
    assert chunked < 0.25 * whole
    model.save(tmp_path / "cuda_model")
    on_cpu = REINFORCE.load(tmp_path / "cuda_model", device="cpu")
    obs = model.get_env().reset()
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], on_cpu.predict(obs, deterministic=True)[0])
