"""Random legal source graphs for the analog family, and small targets that spread them over
many tiles and chips (the decode property tests, the mutation tests)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import strategies as st

from snnc.ir.graph import GraphBuilder
from snnc.ir.snn import IF, LI, LIF, Affine, CubaLIF, Delay, Flatten, Linear
from snnc.targets import get_target


def small_targets() -> dict[str, object]:
    """A PCM chip of 6x5 tiles (6 chips of 8 on a 2x4 mesh) and a BrainScaleS-2-like one of 8x5
    (4 signed inputs per tile, 8 chips of 4 on a 2x2 mesh): a few neurons fill several tiles."""
    pcm, bss2 = get_target("analog"), get_target("analog-bss2")
    return {"analog": replace(pcm, chips=6, cores_per_chip=8, mesh=(2, 4),
                              crossbar=replace(pcm.crossbar, rows=6, cols=5)),
            "analog-bss2": replace(bss2, chips=8, cores_per_chip=4, mesh=(2, 2),
                                   crossbar=replace(bss2.crossbar, rows=8, cols=5))}


def neurons(rng, n: int, *, kind: str, reset_mode: str, reset_timing: str, refractory: bool):
    theta = rng.uniform(0.5, 1.5, n)
    common = dict(v_threshold=theta, v_reset=np.zeros(n), reset_mode=reset_mode, reset_timing=reset_timing,
                  t_refrac=2e-3 if refractory else 0.0)
    if kind == "if":
        return IF(r=rng.uniform(200.0, 600.0, n), **common)
    if kind == "cuba":
        return CubaLIF(tau_syn=rng.uniform(2e-3, 4e-3, n), tau_mem=rng.uniform(5e-3, 5e-2, n),
                       r=rng.uniform(1.0, 3.0, n), v_leak=np.zeros(n), w_in=rng.uniform(2.0, 5.0, n), **common)
    return LIF(tau=rng.uniform(5e-3, 5e-2, n), r=rng.uniform(5.0, 15.0, n), v_leak=np.zeros(n), **common)


@st.composite
def source_graphs(draw, family_target: str):
    """(graph, input arrays) of a random network the target's lowering accepts: one or two inputs
    (one maybe 2-D), one to three populations (LIF, IF or CUBA) each fed by one or two earlier
    sources through Affine or Linear (with zero blocks and all-zero rows), some through a delay
    of 2 or 3 ticks, some with a recurrent weight from a population (feedback: recurrent tiles,
    spike buffers, relays), one or two outputs of populations and maybe an LI readout."""
    bss2 = family_target == "analog-bss2"
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    b = GraphBuilder(dt=1e-3, metadata={"source": "hypothesis", "seed": str(seed)})
    sources: dict[str, int] = {}
    for i in range(draw(st.integers(1, 2))):
        shape = draw(st.sampled_from([(draw(st.integers(1, 12)),), (2, draw(st.integers(1, 5)))]))
        name = b.input(f"in{i}", shape, origin=f"model.in{i}")
        if len(shape) > 1:
            name = b.add(f"in{i}_flat", Flatten(), name, origin=f"model.flat{i}")
        sources[name] = int(np.prod(shape))
    pops = []
    for k in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 9))
        feeds = draw(st.lists(st.sampled_from(sorted(sources)), min_size=1, max_size=2, unique=True))
        affines = []
        for j, src in enumerate(feeds):
            w = rng.normal(0, 1.2, (n, sources[src])) * (rng.random((n, sources[src])) < draw(st.floats(0.1, 1)))
            op = Affine(weight=w, bias=rng.uniform(-0.2, 0.2, n)) if draw(st.booleans()) else Linear(weight=w)
            fc = b.add(f"fc{k}_{j}", op, src, origin=f"model.fc{k}_{j}")
            if src in pops and draw(st.integers(0, 3)) == 0:
                fc = b.add(f"late{k}_{j}", Delay(delay=np.full(n, draw(st.sampled_from([2e-3, 3e-3])))), fc)
            affines.append(fc)
        if pops and draw(st.booleans()):
            back = draw(st.sampled_from(pops))
            affines.append(b.add(f"rec{k}", Linear(weight=rng.normal(0, 0.5, (n, sources[back]))), back))
        kind = draw(st.sampled_from(["lif", "cuba"] if bss2 else ["lif", "if", "cuba"]))
        op = neurons(rng, n, kind=kind, reset_mode="value" if bss2 else draw(st.sampled_from(["value", "subtract"])),
                     reset_timing=draw(st.sampled_from(["immediate", "next_step"])), refractory=draw(st.booleans()))
        pop = b.add(f"pop{k}", op, *[a for a in affines if not a.startswith("rec")], origin=f"model.pop{k}")
        for a in (a for a in affines if a.startswith("rec")):
            b.connect(a, pop, recurrent=True)
        sources[pop] = n
        pops.append(pop)
    for o, pop in enumerate(draw(st.lists(st.sampled_from(pops), min_size=1, max_size=2, unique=True))):
        b.output(f"out{o}", pop, (sources[pop],))
    if draw(st.booleans()):
        src = draw(st.sampled_from(pops))
        fc = b.add("fc_ro", Linear(weight=rng.normal(0, 1, (2, sources[src]))), src, origin="model.fc_ro")
        b.output("readout", b.add("ro", LI(tau=np.full(2, 5e-3), r=np.ones(2), v_leak=np.zeros(2)), fc,
                                  origin="model.ro"), (2,))
    graph = b.build()
    T, B = 6, 3
    xs = {name: (rng.random((T, B, *graph.op(name).shape)) < 0.5) * rng.uniform(0, 1, (T, B, *graph.op(name).shape))
          for name in graph.inputs}
    return graph, xs
