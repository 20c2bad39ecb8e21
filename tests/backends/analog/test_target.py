"""The analog targets as data: the installed files, the family schema's checks and messages."""
import json

import pytest

from snnc.errors import MalformedInputError
from snnc.targets import DATA_DIR, get_target, load_target_file


def test_installed_analog_targets():
    pcm, bss2 = get_target("analog"), get_target("analog-bss2")
    assert (pcm.family, bss2.family) == ("analog", "analog")
    assert (pcm.crossbar.rows, pcm.crossbar.cols, pcm.total_tiles, pcm.crossbar.inputs_per_tile()) == (256, 256, 64, 256)
    assert (bss2.crossbar.inputs_per_tile(), bss2.cores_per_chip * bss2.crossbar.cols, bss2.chips) == (128, 512, 12)
    assert (pcm.neuron.tau_syn_range, bss2.neuron.tau_syn_range) == ((), (1e-6, 1e-4))
    assert (pcm.timing.max_delay, bss2.timing.max_delay) == (16, 1) and not bss2.graded_inputs and pcm.graded_inputs
    assert pcm.device.prog_noise == (0.26348, 1.965, -1.1731) and pcm.device.nu_std[1] == -0.0059
    assert (bss2.device.levels, bss2.device.g_max, bss2.timing.speedup) == (64, 63.0, 1000.0)
    assert all(section.source for t in (pcm, bss2)
               for section in (t.crossbar, t.device, t.converters, t.neuron, t.neuron.mismatch, t.timing, t.costs))
    assert get_target("analog").describe() == (
        "analog   analog 1 chip × 64 tiles of 256×256 (differential pair), analog pcm weights, g_max 25 uS; "
        "7-bit DAC, 9-bit ADC — PCM crossbar tiles (256×256 differential pairs, aihwkit PCM statistics) with "
        "analog LIF circuits")


@pytest.fixture
def edited(tmp_path):
    def write(edit, name="analog"):
        data = json.loads((DATA_DIR / f"{name}.json").read_text())
        edit(data)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        return path
    return write


def error(path) -> str:
    with pytest.raises(MalformedInputError) as err:
        load_target_file(path)
    return str(err.value)


def test_signed_coefficients_take_any_number_but_not_text(edited):
    assert error(edited(lambda d: d["device"].update(prog_noise=[0.2, "x"]))) == \
        'analog.json:device.prog_noise[1]: expected a number, got "x"'
    assert error(edited(lambda d: d["device"].update(g_max=-25))) == \
        "analog.json:device.g_max: expected a number >= 0, got -25"


def test_family_rules_name_the_key(edited):
    assert error(edited(lambda d: d["crossbar"].update(signed_mode="quad"))) == \
        "analog.json:crossbar.signed_mode: expected one of differential_pair, split_rows, got 'quad'"
    assert error(edited(lambda d: d["device"].update(nu_mean=[0.1, 0.2]))) == \
        "analog.json:device.nu_mean: expected 4 numbers, got 2"
    assert error(edited(lambda d: d["neuron"].update(v_threshold=2000.0))) == (
        "analog.json:neuron.v_threshold: expected v_range.lo <= v_zero < v_threshold <= v_range.hi, got "
        "0 <= 200.0 < 2000.0 <= 1023")
    assert error(edited(lambda d: d["converters"].update(adc_bits=1))) == \
        "analog.json:converters.adc_bits: expected 0 or 2..24 bits, got 1"
    assert error(edited(lambda d: d["neuron"].update(reset_modes=["zero"]))) == \
        "analog.json:neuron.reset_modes: expected some of value, subtract, got ['zero']"
