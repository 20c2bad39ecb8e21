"""loihi.cuba against Lava's published check vector and hand-computed traces."""
import numpy as np
import pytest

from snnc.errors import SimulationError
from tests.backends.loihi.util import cuba, impulse, run_one


def test_lava_impulse_check_vector():
    # Lava tests/lava/proc/lif/test_models.py::test_bitacc_pm_impulse_du (reference §2)
    op = cuba(du=2047, dv=0, vth_mant=256)
    y, s = run_one(op, impulse(8, 128), record=("u", "v"))
    assert s["u"].ravel().tolist() == [8192, 4096, 2048, 1024, 512, 256, 128, 64]
    assert s["v"].ravel().tolist() == [8192, 12288, 14336, 15360, 15872, 16128, 16256, 16320]
    assert not y.any()                              # θ = 16384 is never exceeded


def test_batch_and_neurons_are_independent():
    op = cuba(n=3, du=[2047, 0, 4095], dv=[0, 100, 4096], vth_mant=256)
    x = np.zeros((6, 2, 3), np.int64)
    x[0, 1] = [128, -7, 300]
    _, s = run_one(op, x, record=("u", "v"))
    assert not s["u"][:, 0].any() and not s["v"][:, 0].any()
    single, s1 = run_one(cuba(du=2047, dv=0, vth_mant=256), impulse(6, 128), record=("v",))
    assert np.array_equal(s["v"][:, 1, 0], s1["v"][:, 0, 0])


def test_spike_is_strictly_above_threshold_and_resets_v_only():
    # du = −1: u never decays; dv = 0: v never leaks; θ = 64. u = 64 from tick 0.
    op = cuba(du=-1, dv=0, vth_mant=1)
    y, s = run_one(op, impulse(6, 1), record=("u", "v"))
    assert y.ravel().tolist() == [0, 1, 0, 1, 0, 1]          # v = 64 is not > 64; 128 is
    assert s["v"].ravel().tolist() == [64, 0, 64, 0, 64, 0]
    assert s["u"].ravel().tolist() == [64] * 6               # u is not reset


def test_bias_mantissa_and_exponent():
    op = cuba(du=-1, dv=0, vth_mant=1, bias_mant=3, bias_exp=2)     # b = 12 per tick
    y, s = run_one(op, np.zeros((7, 1, 1)), record=("v",))
    assert s["v"].ravel().tolist() == [12, 24, 36, 48, 60, 0, 12]   # 72 > 64 spikes at tick 5
    assert y.ravel().tolist() == [0, 0, 0, 0, 0, 1, 0]


def test_refractory_holds_v_and_suppresses_spikes_while_u_integrates():
    op = cuba(du=-1, dv=0, vth_mant=1, refractory=2)
    x = np.zeros((10, 1, 1), np.int64)
    x[0] = 1
    x[2] = 1                                   # arrives during the refractory ticks 2, 3
    y, s = run_one(op, x, record=("u", "v"))
    assert y.ravel().tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert s["u"].ravel().tolist() == [64, 64, 128, 128, 128, 128, 128, 128, 128, 128]
    assert s["v"].ravel().tolist() == [64, 0, 0, 0, 0, 0, 0, 0, 0, 0]    # held at 0 through ticks 2-3, 5-6, 8-9


def test_refractory_with_subtract_holds_v_minus_the_pending_threshold():
    op = cuba(du=-1, dv=0, vth_mant=2, refractory=1, reset_mode="subtract")   # u = 128, θ = 128
    y, s = run_one(op, impulse(7, 2), record=("v",))
    assert s["v"].ravel().tolist() == [128, 256, 128, 256, 128, 256, 128]
    assert y.ravel().tolist() == [0, 1, 0, 1, 0, 1, 0]


def test_subtract_reset_takes_threshold_off_after_the_next_decay():
    # u = 128 constant, θ = 128, dv = 2048 halves v (toward zero) every tick.
    op = cuba(du=-1, dv=2048, vth_mant=2, reset_mode="subtract")
    y, s = run_one(op, impulse(10, 2), record=("v",))
    # v[t] = trunc(v[t−1] / 2) + 128 − 128 · z[t−1]: the threshold is not halved
    assert s["v"].ravel().tolist() == [128, 192, 96, 176, 88, 172, 86, 171, 85, 170]
    assert y.ravel().tolist() == [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]


def test_subtract_reset_matches_snntorch_next_step_recurrence():
    # snnTorch Leaky, reset_mechanism="subtract": v[t] = β v[t−1] + in[t] − θ z[t−1], z = v > θ.
    rng = np.random.default_rng(3)
    a = rng.integers(0, 4, size=(60, 1, 5))
    op = cuba(n=5, du=4095, dv=1024, vth_mant=3, reset_mode="subtract")   # u = 64 a (no memory), β = 3/4
    y, s = run_one(op, a, record=("v",))
    v, z = np.zeros(5, np.int64), np.zeros(5, bool)
    for t in range(60):
        q = v * 3072
        v = np.sign(q) * (np.abs(q) >> 12) + 64 * a[t, 0] - 192 * z
        z = v > 192
        assert np.array_equal(s["v"][t, 0], v) and np.array_equal(y[t, 0], z)


def test_graded_spikes_carry_the_voltage():
    op = cuba(du=-1, dv=0, vth_mant=1, graded=True)
    y, _ = run_one(op, impulse(4, 1))
    assert y.ravel().tolist() == [0, 128, 0, 128]


def test_current_wraps_like_lava_including_the_edge_values():
    op = cuba(n=2, du=-1, dv=4096, vth_mant=1 << 18)          # v memoryless, never spikes
    x = np.zeros((3, 1, 2), np.int64)
    x[0] = [1 << 17, -(1 << 17)]                              # 64 a = +2^23 and −2^23
    x[1] = [1, 0]
    _, s = run_one(op, x, record=("u",))
    assert s["u"][0, 0].tolist() == [1 << 23, 1 << 23]        # +2^23 kept; −2^23 becomes +2^23
    assert s["u"][1, 0].tolist() == [(1 << 23) + 64 - (1 << 24), 1 << 23]


def test_voltage_saturates_at_24_bits():
    op = cuba(n=2, du=-1, dv=0, vth_mant=1 << 18, bias_mant=[4095, -4096], bias_exp=7)
    _, s = run_one(op, np.zeros((18, 1, 2)), record=("v",))
    v = s["v"][:, 0]
    assert v[15].tolist() == [16 * 524160, -(2 ** 23 - 1)]       # −16 · 524288 = −2^23 clips
    assert v[16].tolist() == [2 ** 23 - 1, -(2 ** 23 - 1)]
    assert v[17].tolist() == [2 ** 23 - 1, -(2 ** 23 - 1)]


def test_strict_mode_names_node_tick_sample_and_neuron_on_saturation():
    op = cuba(n=2, du=-1, dv=0, vth_mant=1 << 18, bias_mant=[0, 4095], bias_exp=7)
    run_one(op, np.zeros((16, 2, 2)), strict=True)               # 16 ticks still fit
    with pytest.raises(SimulationError) as err:
        run_one(op, np.zeros((17, 2, 2)), strict=True)
    assert str(err.value) == ("node 'n' (loihi.cuba) tick 16, sample 0, neuron 1: voltage v = 8910720 "
                              "saturates (limit ±8388607) (strict mode)")


def test_strict_mode_names_the_wrapping_current():
    op = cuba(n=3, du=-1, dv=4096, vth_mant=1 << 18)
    x = np.zeros((2, 2, 3), np.int64)
    x[1, 1, 2] = -(1 << 17)
    run_one(op, x[:1], strict=True)
    with pytest.raises(SimulationError) as err:
        run_one(op, x, strict=True)
    assert str(err.value) == ("node 'n' (loihi.cuba) tick 1, sample 1, neuron 2: current u = -8388608 "
                              "wraps (24-bit range is (-8388608, 8388608]) (strict mode)")


def test_fractional_input_is_rejected():
    with pytest.raises(SimulationError, match=r"node 'n' tick 0: input must hold integers"):
        from snnc.interp.kernel import Context
        from snnc.backends.loihi.steps import CubaStepper
        CubaStepper(cuba(), Context(dt=1e-3), 1, "n").step({"input": np.array([[0.5]])})


@pytest.mark.parametrize("fields, message", [
    (dict(dv=[1, 2]), "dv has shape [2], but the compartment shape (of du) is [1]"),
    (dict(du=-2), "du must lie in [-1, 4095], got [-2, -2]"),
    (dict(dv=4097), "dv must lie in [0, 4096], got [4097, 4097]"),
    (dict(vth_mant=-1), "vth_mant must lie in >= 0, got [-1, -1]"),
    (dict(refractory=-3), "refractory must lie in >= 0, got [-3, -3]"),
])
def test_verify_messages(fields, message):
    from snnc.backends.loihi.ops import Cuba
    base = dict(du=[0], dv=[0], vth_mant=[1], bias_mant=[0], bias_exp=[0], refractory=[0])
    base.update({k: np.atleast_1d(v) for k, v in fields.items()})
    assert Cuba(**base).verify() == [message]
