"""
Print the Breakout runs behind the ``atari`` entry of ``reinforce.yml`` from their committed files
(``benchmarks/data/atari/BreakoutNoFrameskip-v4/RUN/seed0/``): the evaluations (the Zoo evaluates Atari with the
stochastic policy) and the mean score of the last 100 training games, read from the Monitor files.

Usage (the figures in ``benchmarks/notes.md`` and ``reinforce.yml``)::

    python benchmarks/atari_summary.py
"""

from pathlib import Path

import numpy as np
from stable_baselines3.common.monitor import load_results

DATA = Path(__file__).parent / "data" / "atari" / "BreakoutNoFrameskip-v4"


def main() -> None:
    for run in sorted(DATA.iterdir()):
        folder = run / "seed0"
        evaluations = np.load(folder / "evaluations.npz")["results"].mean(axis=1)
        # All training envs' games, in the order they ended
        games = load_results(str(folder)).sort_values("t")
        print(
            f"{run.name:20s} evaluations {np.round(evaluations, 1).tolist()}; "
            f"last 100 training games {games['r'].tail(100).mean():.1f} ({len(games)} games)"
        )


if __name__ == "__main__":
    main()
