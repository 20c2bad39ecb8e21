"""What each Loihi approximation rule costs, measured on the networks its test uses:

    .venv/bin/python -m tests.backends.loihi.approximation_costs

prints one Markdown row per rule (ir_spec/SPEC.md §8.1 quotes them), then one per model of the
matrix (tests/matrix) that loihi1 approximates (the README quotes them): the output's count and spike
agreement between the float model and its legalized rewrite (the rule alone, float arithmetic;
"—" for the rules loihi-quantize applies, which have no float form), and between the float model
and the chip (the rule plus the number formats), with `snnc.verify`'s measures
(`snnc.verify.runs.output_agreement`). Inputs are seeded Bernoulli spikes.
"""
from __future__ import annotations

import numpy as np

import snnc
from snnc.interp.engine import run
from snnc.targets import get_target
from snnc.verify.runs import output_agreement
from tests.backends.loihi import test_lower_rules as rules
from tests.netbuild import lif, spikes


def _cases():
    cuba, two = rules.cuba, rules.two_layers
    x = spikes(60, 32, 12, p=0.3)
    yield ("neurons.reset_modes (CUBA: reset to 0)", "loihi1", x,
           two(lambda n: cuba(n, theta=8.0, reset_mode="subtract", reset_timing="next_step"), seed=11))
    yield ("neurons.reset_modes (IF: membrane in u, leak 1/4096)", "loihi1", x,
           two(lambda n: rules.if_(n, theta=2.0, reset_mode="subtract", reset_timing="next_step"), seed=4))
    yield ("loihi.cuba.reset (CUBA: immediate subtraction undecayed)", "loihi", x,
           two(lambda n: cuba(n, theta=8.0, reset_mode="subtract", reset_timing="immediate"), seed=12))
    yield ("loihi.cuba.reset (v_reset = -0.5 shifted)", "loihi1", x,
           two(lambda n: lif(n, beta=0.875, v_reset=-0.5), seed=13))
    yield ("formats.refractory (70 ticks held 62)", "loihi1", spikes(200, 16, 12, p=0.3),
           two(lambda n: lif(n, beta=0.875, t_refrac=0.07), seed=14))
    yield ("loihi.cuba.start (CUBA leak level 0.5)", "loihi", x, two(lambda n: cuba(n, theta=8.0, v_leak=np.full(n, 0.5)),
                                                                     seed=15))
    yield ("loihi.synapse.tick (2-population loop, 1 tick late)", "loihi", spikes(60, 16, 6, p=0.5), rules._loop(0))


def measure(g, target: str, x) -> tuple[dict | None, dict, list[str]]:
    art = snnc.compile(g, target)
    d, out, legal = rules.legalized(g, art.target)
    alone = output_agreement(run(d, {"x": x}).outputs["y"], run(out, {"x": x}).outputs["y"], g) \
        if legal and out != d else None
    chip = output_agreement(snnc.simulate(g, x), snnc.simulate(art, x), g)
    return alone, chip, sorted({a["rule"] for a in art.manifest["approximations"]})


def _pair(a: dict | None) -> str:
    return "—" if a is None else f"{a['count_agreement']:.4f} / {a['spike_agreement']:.4f}"


def matrix_rows():
    """The matrix's models that loihi1 approximates: (model, rules, rule alone, chip) as count /
    decision agreement (/ accuracy drop for trained models), from `snnc.verify`'s own report."""
    from tests.matrix.cells import run_cell
    from tests.matrix.models import MODELS
    for case in MODELS:
        cell = run_cell(case, "loihi1")
        if not cell.approximations:
            continue
        model, x, labels = case.build("loihi1")
        g = snnc.load(model, **case.load)
        d, out, _ = rules.legalized(g, get_target("loihi1"))
        name = g.outputs[0]
        alone = None if out == d else _with_accuracy(
            output_agreement(run(d, {g.inputs[0]: x}).outputs[name], run(out, {g.inputs[0]: x}).outputs[name], g))
        (chip,) = cell.report.comparison.outputs.values()
        acc = cell.report.comparison.accuracy
        yield case.name, sorted({a["rule"] for a in cell.approximations}), alone, _with_accuracy(chip, acc)


def _with_accuracy(out: dict, acc: dict | None = None) -> str:
    text = f"{out['count_agreement']:.3f} / {out['decision_agreement']:.3f}"
    return text + (f" / {acc['drop']:+.4f}" if acc else "")


def main() -> None:
    print("| rule (case) | target | rule alone: count / spike agreement | chip: count / spike agreement |")
    print("|---|---|---|---|")
    for name, target, x, g in _cases():
        alone, chip, listed = measure(g, target, x)
        assert name.split(" ")[0] in listed, (name, listed)
        print(f"| {name} | {target} | {_pair(alone)} | {_pair(chip)} |")
    print("\n| model (loihi1) | rules | rule alone: count / decision agreement | chip: count / decision "
          "agreement / accuracy drop |")
    print("|---|---|---|---|")
    for name, listed, alone, chip in matrix_rows():
        print(f"| {name} | {', '.join(listed)} | {alone or '—'} | {chip} |")


if __name__ == "__main__":
    main()
