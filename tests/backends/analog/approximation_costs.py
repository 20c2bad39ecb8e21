"""What each analog approximation rule costs, measured on the matrix's models and inputs:

    .venv/bin/python -m tests.backends.analog.approximation_costs

prints one Markdown row per rule: the output's count and decision agreement (and, for a
trained model, the accuracy drop) between the float model and

- its legalized rewrite run in float (`analog-legalize`'s graph: the rule alone), and
- the default chip, instance 0 of seed 0 at the compiled read time (the rule plus the
  converters, the device and the mismatch),

with `snnc.verify`'s measures (`snnc.verify.runs.output_agreement`, decision margin 1).
"""
from __future__ import annotations

import numpy as np

import snnc
from snnc.interp.engine import run
from snnc.passes.manager import run_pipeline
from snnc.verify import predicted_classes
from snnc.verify.runs import output_agreement
from tests.matrix.models import MODELS

# rule, target, matrix model, analog-legalize options
CASES = (
    ("neuron.tau_syn_range (CUBA current as 15 taps)", "analog", "NIR Braille-style RNN (nir package)", {}),
    ("neuron.tau_syn_range (CUBA current folded, 1 tap)", "analog", "NIR Braille-style RNN (nir package)",
     {"current_taps": 1}),
    ("neuron.tau_syn_range (CUBA current as taps)", "analog", "snnTorch Synaptic", {}),
    ("neuron.tau_syn_range (CUBA current as taps)", "analog", "Norse Linear(bias) + LIFCell", {}),
    ("neuron.reset_modes (subtract → reset to 0)", "analog-bss2", "digits.snnir (shipped, snnTorch Leaky subtract)",
     {}),
    ("neuron.reset_modes (subtract → reset to 0)", "analog-bss2", "snnTorch Leaky, subtract reset", {}),
    ("neuron.reset_modes + neuron.integrators (IF → leaky, reset to 0)", "analog-bss2", "converted ReLU MLP", {}),
    ("neuron.reset_modes + neuron.integrators (IF → leaky, reset to 0)", "analog-bss2", "converted ReLU CNN", {}),
)


def _scores(name: str, graph, ref: dict, other: dict, labels) -> dict:
    out = output_agreement(ref[name], other[name], graph)
    if labels is not None:
        out["drop"] = float(np.mean(predicted_classes(ref[name], graph) == labels)
                            - np.mean(predicted_classes(other[name], graph) == labels))
    return out


def measure(target: str, case_name: str, legalize: dict) -> tuple[dict, dict, list[str]]:
    case = next(c for c in MODELS if c.name == case_name)
    model, x, labels = case.build(target)
    g = snnc.load(model, **case.load)
    xs = {g.inputs[0]: x}
    ref = run(g, xs).outputs
    legal = run_pipeline(g, snnc.targets.get_target(target), pipeline=("analog-legalize",),
                         options={"analog-legalize": legalize})
    art = snnc.compile(g, target, analog_legalize=legalize)
    name = g.outputs[0]
    alone = _scores(name, g, ref, run(legal.graph, xs).outputs, labels)
    chip = _scores(name, g, ref, {name: snnc.simulate(art, x)}, labels)
    return alone, chip, sorted({a["rule"] for a in art.manifest["approximations"]})


def _cell(a: dict) -> str:
    text = f"{a['count_agreement']:.3f} / {a['decision_agreement']:.3f}"
    return text + (f" / {a['drop']:+.4f}" if "drop" in a else "")


def main() -> None:
    print("| rule | target | model | rule alone: count / decision agreement (/ accuracy drop) | chip: the same |")
    print("|---|---|---|---|---|")
    for rule, target, case_name, legalize in CASES:
        alone, chip, listed = measure(target, case_name, legalize)
        assert all(r in listed for r in rule.split(" (")[0].split(" + ")), (rule, listed)
        print(f"| {rule} | {target} | {case_name} | {_cell(alone)} | {_cell(chip)} |")


if __name__ == "__main__":
    main()
