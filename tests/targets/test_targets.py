"""Targets as data: the installed files, the schema's checks and their messages."""
import json
import shutil

import pytest

from snnc.errors import MalformedInputError, UsageError
from snnc.targets import DATA_DIR, all_targets, get_target, load_target_file, target_names


def test_installed_targets_load():
    assert {"loihi", "loihi1", "truenorth"} <= set(target_names())
    targets = all_targets()
    assert {t.family for t in targets.values() if t.name.startswith("loihi")} == {"loihi"}
    assert targets["loihi1"].core.neurons == 1024 and targets["loihi1"].total_cores == 128
    assert targets["loihi"].core.neurons == 8192 and targets["loihi"].total_cores == 120


def test_loihi1_is_davies_2018():
    t = get_target("loihi1")
    assert (t.core.input_axons, t.core.output_axons, t.core.synapse_memory_bits) == (4096, 4096, 16384 * 64)
    assert t.neurons.reset_modes == ("zero",) and not t.neurons.graded_spikes
    assert (t.costs.synaptic_op.energy_pj, t.costs.synaptic_op.time_ns) == (23.6, 3.5)
    assert (t.costs.neuron_update_active.energy_pj, t.costs.neuron_update_inactive.energy_pj) == (81.0, 52.0)
    assert (t.costs.barrier_ns.lo, t.costs.barrier_ns.hi) == (113, 465)


def test_loihi_costs_are_loihi1s_by_proxy_and_say_so():
    t, t1 = get_target("loihi"), get_target("loihi1")
    assert t.costs.proxy == "loihi1"
    assert "no per-operation energy" in t.costs.note
    assert t.costs.synaptic_op == t1.costs.synaptic_op and t.costs.barrier_ns == t1.costs.barrier_ns
    assert t.neurons.reset_modes == ("zero", "subtract") and t.neurons.graded_spikes


def test_synapse_cost_model_reproduces_the_worked_numbers():
    enc = get_target("loihi1").synapse_encoding
    assert enc.axon_bits(1024) == 9216              # 16 groups × 576 bits
    assert enc.axon_bits(256) == 2304
    assert enc.axon_bits(1024, sparse=True) == 19456
    assert enc.axon_bits(1) == 64 and enc.axon_bits(0) == 0
    assert enc.axon_bits(65) == 576 + 64            # a second, one-synapse group
    assert enc.axon_bits(64, delays=True) == 64 * 14 + 10 + 54


def test_number_format_ranges():
    f = get_target("loihi1").formats
    assert (f.weight_range.lo, f.weight_range.hi) == (-256, 255)
    assert (f.threshold_mantissa_range.hi, f.bias_mantissa_range.lo, f.bias_mantissa_range.hi) == \
        (131071, -4096, 4095)
    assert (f.current_decay_range.hi, f.voltage_decay_range.hi) == (4095, 4096)
    assert 7 in f.bias_exp and 8 not in f.bias_exp


def test_loihi_family_arithmetic_matches_the_dialect():
    """The dialect's fixed arithmetic is what every loihi-family target file declares."""
    from snnc.backends.loihi import ops
    for t in (t for t in all_targets().values() if t.family == "loihi"):
        f = t.formats
        assert (f.state_bits, f.decay_bits, f.current_decay_offset, f.voltage_decay_offset,
                f.threshold_shift, f.activation_shift) == \
            (ops.STATE_BITS, ops.DECAY_SHIFT, ops.U_DECAY_OFFSET, ops.V_DECAY_OFFSET,
             ops.THRESHOLD_SHIFT, ops.ACTIVATION_SHIFT)
        assert set(t.neurons.reset_modes) <= set(ops.RESET_MODES)


def test_describe_is_one_line():
    line = get_target("loihi1").describe()
    assert "\n" not in line
    assert line.startswith("loihi1   loihi  1 chip × 128 cores; per core 1024 neurons, 4096 in / 4096 out axons")


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(UsageError) as err:
        get_target("truenorht")
    assert str(err.value) == f"unknown target 'truenorht' (known: {', '.join(target_names())})"


# -- malformed files ----------------------------------------------------------------------------
@pytest.fixture
def copy(tmp_path):
    """Write an edited copy of loihi1.json (and loihi.json beside it) into tmp_path."""
    def write(edit, name="loihi1"):
        shutil.copy(DATA_DIR / "loihi1.json", tmp_path / "loihi1.json")
        data = json.loads((DATA_DIR / f"{name}.json").read_text())
        edit(data)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(data))
        return path
    return write


def _error(path) -> str:
    with pytest.raises(MalformedInputError) as err:
        load_target_file(path)
    return str(err.value)


def test_missing_key(copy):
    assert _error(copy(lambda d: d["core"].pop("input_axons"))) == "loihi1.json:core.input_axons: missing"


def test_wrong_type(copy):
    path = copy(lambda d: d["core"].update(neurons="1024"))
    assert _error(path) == 'loihi1.json:core.neurons: expected an integer >= 0, got "1024"'


def test_negative_count(copy):
    path = copy(lambda d: d.update(chips=0))
    assert _error(path) == "loihi1.json:chips: expected an integer >= 1, got 0"


def test_unknown_key_is_refused(copy):
    path = copy(lambda d: d["formats"].update(weigth_bits=8))
    assert _error(path).startswith("loihi1.json:formats.weigth_bits: unknown key (known: weight_bits, ")


def test_bad_range(copy):
    assert _error(copy(lambda d: d["formats"].update(delay=[5, 2]))) == \
        "loihi1.json:formats.delay: expected lo <= hi, got [5, 2]"
    assert _error(copy(lambda d: d["formats"].update(delay=7))) == \
        "loihi1.json:formats.delay: expected [lo, hi] integers, got 7"


def test_list_items_are_checked_by_index(copy):
    path = copy(lambda d: d["neurons"].update(reset_modes=["zero", 3]))
    assert _error(path) == "loihi1.json:neurons.reset_modes[1]: expected a string, got 3"


def test_cores_must_fit_the_mesh(copy):
    path = copy(lambda d: d.update(cores_per_chip=129))
    assert _error(path) == "loihi1.json:cores_per_chip: 129 cores do not fit a 8×4 tile mesh of 4 cores each (128 positions)"


def test_graded_flag_and_width_agree(copy):
    path = copy(lambda d: d["neurons"].update(graded_spike_bits=8))
    assert _error(path) == "loihi1.json:neurons.graded_spike_bits: 8 bits does not agree with graded_spikes = false"


def test_name_must_match_file(copy):
    assert _error(copy(lambda d: d.update(name="loihi9"))) == \
        "loihi1.json:name: name 'loihi9' differs from the file name 'loihi1'"


def test_invalid_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"name": "x",\n  "chips": }')
    assert _error(path) == "x.json:2:12: not valid JSON: Expecting value"


def test_proxy_to_unknown_target(copy):
    path = copy(lambda d: d["costs"].update(proxy="loihi7"), name="loihi")
    assert _error(path) == "loihi.json: costs.proxy names unknown target 'loihi7' (known: loihi, loihi1)"


def test_proxy_table_takes_no_numbers(copy):
    path = copy(lambda d: d["costs"].update(synaptic_op={"energy_pj": 1, "time_ns": 1}), name="loihi")
    assert _error(path) == "loihi.json:costs.synaptic_op: a proxied cost table takes only proxy, note and source"


def test_proxy_loop(copy, tmp_path):
    copy(lambda d: None, name="loihi")
    loop = copy(lambda d: d.update(costs={"proxy": "loihi"}), name="loihi1")
    shutil.copy(DATA_DIR / "loihi.json", tmp_path / "loihi.json")
    assert _error(loop) == "loihi.json: costs.proxy loops: loihi1 -> loihi -> loihi1"
