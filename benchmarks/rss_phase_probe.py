"""One-off (issue 19): the RSS of one REINFORCE run on 84x84x1 episodes, traced at the start of the update, every 40
chunks of the value pre-pass and of the policy pass. Usage: python benchmarks/rss_phase_probe.py 4000 (repeat it:
the growth did not show in every run)."""

import sys, threading, time

sys.path.insert(0, "benchmarks")
import soak
import sb3_reinforce.reinforce.reinforce as R
from sb3_reinforce.common.buffers import EpisodicRolloutBuffer

phase = ["setup"]
peak = {}


def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20


trace = []
orig_pv = R.predict_values


def pv(*a):
    phase[0] = "prepass"
    trace.append(("pv-start", round(rss())))
    out = orig_pv(*a)
    trace.append(("pv-end", round(rss())))
    phase[0] = "chunks"
    return out


R.predict_values = pv
orig_get = EpisodicRolloutBuffer.get


def get(self, bs=None):
    for i, c in enumerate(orig_get(self, bs)):
        if i % 40 == 0:
            trace.append((f"chunk{i}", round(rss())))
        yield c
    trace.append(("chunks-end", round(rss())))


EpisodicRolloutBuffer.get = get
orig_train = R.REINFORCE.train


def train(self):
    trace.append(("train-start", round(rss()), self.rollout_buffer.batch_steps))
    orig_train(self)
    trace.append(("train-end", round(rss())))


R.REINFORCE.train = train
L = int(sys.argv[1])
soak.image_run("reinforce", "MlpPolicy", L)
import resource

for t in trace:
    if t[0] in ("train-start",) and t[2] == 0:
        continue
    print(t)
print("maxrss", round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
