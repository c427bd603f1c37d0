"""``targets.py``: REINFORCE's targets, against A2C, and the extra targets of LunarLander-v3 and the MuJoCo walkers."""

import numpy as np
from common import ALGOS, SCOPE
from run_data import Run
from targets import against_a2c, stands_still, targets_section


def _runs(finals: list[float], length: float = 1000.0) -> list[Run]:
    """Runs of seeds 0, 1, ... whose final evaluation is each of ``finals``, in episodes of ``length`` steps."""
    return [{"seed": seed, "scores": np.array([0.0, final]), "final_length": length} for seed, final in enumerate(finals)]


def test_against_a2c() -> None:
    # (IQM, CI low, CI high): at or above A2C's IQM; below, but each IQM inside the other's CI; below and outside
    assert against_a2c((100.0, 90.0, 110.0), (100.0, 0.0, 200.0)) == "met"
    assert against_a2c((95.0, 80.0, 110.0), (100.0, 90.0, 120.0)) == "met (inside both CIs)"
    assert against_a2c((95.0, 94.0, 96.0), (100.0, 90.0, 120.0)) == "missed"  # A2C's IQM outside ours
    assert against_a2c((80.0, 70.0, 110.0), (100.0, 90.0, 120.0)) == "missed"  # ours outside A2C's


def test_stands_still() -> None:
    # Hopper-v5's REINFORCE seed 0: ~1026 over the full 1000 steps, the alive bonus only
    assert stands_still(_runs([1026.0])[0], 1000)
    assert not stands_still(_runs([3100.0])[0], 1000)  # hops for the full 1000 steps
    assert not stands_still(_runs([900.0], length=350.0)[0], 1000)  # falls after hopping: not standing


def test_targets_section_extra_targets() -> None:
    all_data: dict[str, dict[str, list[Run]]] = {env: {algo: [] for algo in ALGOS} for env in SCOPE}
    all_data["LunarLander-v3"]["reinforce"] = _runs([250.0] * 5)  # 5 of the 10 seeds the target asks for
    all_data["LunarLander-v3"]["a2c"] = _runs([-60.0] * 5)
    all_data["Hopper-v5"]["reinforce"] = _runs([1026.0, 3000.0, 3100.0])
    all_data["Walker2d-v5"]["reinforce"] = _runs([3000.0, 700.0], length=300.0)  # seed 1 falls: not standing
    lines = targets_section(all_data)
    assert "| LunarLander-v3 | ≥ 200 | 250.0 [250.0, 250.0] | met | -60.0 [-60.0, -60.0] | met |" in lines
    hopper = next(line for line in lines if line.startswith("| Hopper-v5 |"))
    assert hopper.endswith("| met | not run | — |")  # no A2C runs: nothing to compare with
    assert "| Ant-v5 | ≥ 1500 | — | not run yet | | |" in lines
    assert lines[-5].endswith(": 250.0 over 5 (missed).")  # CI's lower end met, but on 5 seeds, not 10
    assert lines[-3].startswith("Hopper-v5 extra target") and lines[-3].endswith("seeds standing: 0 (missed).")
    assert lines[-1].startswith("Walker2d-v5 extra target") and lines[-1].endswith("seeds standing: none (met).")
    assert not any(line.startswith("Ant-v5 extra target") for line in lines)  # no runs
