"""One-off: where the peak RSS of REINFORCE on 84x84x1 episodes of 1,000 steps goes (tracemalloc sees numpy, not torch).
Usage: python benchmarks/malloc_probe.py; then MALLOC_MMAP_THRESHOLD_=1048576 python benchmarks/malloc_probe.py"""
import sys, tracemalloc, resource, torch as th
sys.path.insert(0, "benchmarks")
th.set_num_threads(1)
from soak import ImageEpisodes
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.callbacks import BaseCallback
from sb3_reinforce import REINFORCE
L = 1000
env = make_vec_env(lambda: ImageEpisodes(L), n_envs=8, seed=0)
model = REINFORCE("MlpPolicy", env, n_steps=128, policy_kwargs=dict(net_arch=[32]), seed=0, device="cpu")
print("setup rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)
class CB(BaseCallback):
    def _on_step(self): return True
    def _on_rollout_end(self):
        b = self.model.rollout_buffer
        if b.batch_steps: print("batch", b.batch_steps, "held MiB", b.held_bytes/2**20, "rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024, "traced", [x/2**20 for x in tracemalloc.get_traced_memory()])
tracemalloc.start()
model.learn(8*L + 2048, callback=CB())
print("end rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024, "traced", [x/2**20 for x in tracemalloc.get_traced_memory()])
