"""Golden artifacts: one small network compiled for each target, kept byte for byte in
`tests/golden/artifacts/<case>/`. A change to an emitter, a pass or a target file that changes
any byte makes `tests/test_golden_artifacts.py` fail; when the change is intended, regenerate:

    .venv/bin/python -m tests.golden.artifacts

and review the diff (`git diff --stat tests/golden/artifacts`) before committing it.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

import snnc
from snnc.ir import GraphBuilder
from snnc.ir.snn import LI, CubaLIF, Delay, Linear
from tests.netbuild import if_neurons, lif, mlp

ROOT = Path(__file__).parent / "artifacts"


def _readout_net():
    """6 → 5 LIF (subtract reset) → 3 LIF, and a float LI readout of the hidden layer."""
    rng = np.random.default_rng(11)
    b = GraphBuilder()
    x = b.input("x", (6,))
    h = b.add("lif0", lif(5, reset_mode="subtract", reset_timing="next_step"),
              b.add("fc0", Linear(weight=rng.standard_normal((5, 6)) * 1.5), x))
    b.output("y", b.add("lif1", lif(3), b.add("fc1", Linear(weight=rng.standard_normal((3, 5)) * 1.5), h)), (3,))
    ro = b.add("ro", LI(tau=np.full(2, 5e-3), r=np.ones(2), v_leak=np.zeros(2)),
               b.add("fc_ro", Linear(weight=rng.standard_normal((2, 5))), h))
    b.output("r", ro, (2,))
    return b.build()


def _analog_net(cuba: bool):
    """6 → 5 LIF with a recurrent weight, whose spikes reach a second layer 2 ticks late (a CUBA
    one for `cuba`), read out by a float LI (the one output): recurrent tiles, a spike buffer
    or relays, a synapse circuit and the host program of the analog format."""
    rng = np.random.default_rng(16)
    b = GraphBuilder()
    h = b.add("lif0", lif(5), b.add("fc0", Linear(weight=rng.standard_normal((5, 6)) * 1.5), b.input("x", (6,))))
    b.connect(b.add("rec", Linear(weight=rng.standard_normal((5, 5)) * 0.5), h), h, recurrent=True)
    late = b.add("late", Delay(delay=np.full(5, 2e-3)), h)
    fc1 = b.add("fc1", Linear(weight=rng.standard_normal((3, 5)) * 1.5), late)
    out = CubaLIF(tau_syn=np.full(3, 2e-3), tau_mem=np.full(3, 8e-3), r=np.ones(3), v_leak=np.zeros(3),
                  v_threshold=np.full(3, 0.3), v_reset=np.zeros(3), w_in=np.full(3, 2.0)) if cuba else lif(3)
    second = b.add("out", out, fc1)
    ro = b.add("ro", LI(tau=np.full(2, 5e-3), r=np.ones(2), v_leak=np.zeros(2)),
               b.add("fc_ro", Linear(weight=rng.standard_normal((2, 3))), second))
    b.output("r", ro, (2,))
    return b.build()


# case -> (model, target, compile options)
CASES = {
    "loihi": (_readout_net, "loihi", {}),
    "loihi1": (lambda: mlp([6, 5, 3], seed=12, gain=2.5), "loihi1", {}),
    "truenorth": (lambda: mlp([6, 5, 3], seed=13, gain=2.5, neuron=if_neurons), "truenorth", {}),
    "analog": (lambda: mlp([6, 5, 3], seed=14, gain=2.5), "analog", {}),
    "analog-bss2": (lambda: mlp([6, 5, 3], seed=15, gain=2.5), "analog-bss2", {}),
    "analog-recurrent": (lambda: _analog_net(cuba=False), "analog", {}),
    "analog-bss2-cuba": (lambda: _analog_net(cuba=True), "analog-bss2", {}),
}


def compile_case(name: str) -> snnc.Artifact:
    model, target, options = CASES[name]
    return snnc.compile(model(), target, **options)


def regenerate() -> None:
    for name in CASES:
        art = compile_case(name)
        shutil.rmtree(ROOT / name, ignore_errors=True)
        art.save(ROOT / name)
        print(f"{ROOT / name}: {len(art.files)} files")


if __name__ == "__main__":
    regenerate()
