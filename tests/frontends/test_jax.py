"""JAX models: pure step functions read from their jaxpr by the shared recogniser and checked
spike for spike against jax.lax.scan; NIR graphs in Spyx's conventions checked against a
numpy transcription of Spyx's own equations (this part needs no JAX)."""
from __future__ import annotations

import subprocess
import sys

import nir
import numpy as np
import pytest

import snnc
from snnc.errors import UnsupportedOpError, UsageError
from snnc.frontends import frontend_for
from snnc.frontends import jax as fjax
from snnc.ir.snn import LIF, Affine, Delay, Linear

DT = 1e-3


# ================================================================================================
# (a) NIR graphs as Spyx writes and reads them
# ================================================================================================
def spyx_graph(rng):
    """Input(3) → Affine → LIF → Linear → CubaLIF → Linear → LI, in Spyx's conventions: LIF and LI
    with r = 1, CubaLIF with r = τ_mem/dt (Spyx folds dt/τ, and w_in, into the weights)."""
    tau1, tau_syn, tau_mem, tau3 = (rng.uniform(2e-3, 20e-3, n) for n in (4, 5, 5, 2))
    nodes = {
        "input": nir.Input(np.array([3])),
        "fc1": nir.Affine(weight=rng.normal(1.5, 1.0, (4, 3)), bias=rng.normal(0.2, 0.2, 4)),
        "lif": nir.LIF(tau=tau1, r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.ones(4), v_reset=np.zeros(4)),
        "fc2": nir.Linear(weight=rng.normal(1.0, 1.0, (5, 4))),
        "cuba": nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / DT, v_leak=np.zeros(5),
                            v_threshold=np.ones(5), v_reset=np.zeros(5), w_in=rng.uniform(0.5, 2.0, 5)),
        "fc3": nir.Linear(weight=rng.normal(0, 1.0, (2, 5))),
        "li": nir.LI(tau=tau3, r=np.ones(2), v_leak=np.zeros(2)),
        "output": nir.Output(np.array([2])),
    }
    edges = [("input", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "cuba"), ("cuba", "fc3"),
             ("fc3", "li"), ("li", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def spyx_reference(graph, x, dt):
    """Spyx's from_nir (weights times dt/τ, and w_in for CubaLIF; β = 1 − dt/τ, α = 1 − dt/τ_syn)
    and spyx.nn's LIF, CuBaLIF (single threshold subtraction) and LI, in numpy float64."""
    n = graph.nodes
    beta1, w1 = 1 - dt / n["lif"].tau, (dt / n["lif"].tau)[:, None] * n["fc1"].weight
    b1 = dt / n["lif"].tau * n["fc1"].bias
    alpha, beta2 = 1 - dt / n["cuba"].tau_syn, 1 - dt / n["cuba"].tau_mem
    w2 = (dt / n["cuba"].tau_syn * n["cuba"].w_in)[:, None] * n["fc2"].weight
    beta3, w3 = 1 - dt / n["li"].tau, (dt / n["li"].tau)[:, None] * n["fc3"].weight
    B = x.shape[1]
    v1, i2, v2, v3 = np.zeros((B, 4)), np.zeros((B, 5)), np.zeros((B, 5)), np.zeros((B, 2))
    z1s, z2s, v3s = [], [], []
    for xt in x:
        z1 = (v1 > 1.0).astype(float)                    # spyx.nn.LIF: H(V - θ) of the tick before
        v1 = beta1 * v1 + (xt @ w1.T + b1) - z1 * 1.0
        z2 = (v2 > 1.0).astype(float)                    # CuBaLIF
        i2 = alpha * i2 + z1 @ w2.T
        v2 = beta2 * v2 + i2 - z2 * 1.0
        v3 = beta3 * v3 + z2 @ w3.T                      # LI
        z1s.append(z1), z2s.append(z2), v3s.append(v3)
    return np.array(z1s), np.array(z2s), np.array(v3s)


def test_spyx_nir_file_simulates_as_spyx_does(tmp_path):
    rng = np.random.default_rng(4)
    graph = spyx_graph(rng)
    path = tmp_path / "spyx.nir"
    nir.write(path, graph)
    x = rng.uniform(0, 1.5, (150, 3, 3)) * (rng.random((150, 3, 3)) < 0.7)
    z1, z2, v3 = spyx_reference(graph, x, DT)
    g = fjax.load_spyx_nir(path, dt=DT)
    out, rec = snnc.simulate(g, x, record=["lif_spike_delay", "cuba_spike_delay"])
    assert np.array_equal(rec["lif_spike_delay"], z1) and np.array_equal(rec["cuba_spike_delay"], z2)
    assert np.allclose(out, v3, rtol=1e-9, atol=1e-12)
    assert z1.sum() > 100 and z2.sum() > 100              # both layers really spike
    lif = g.op("lif")
    assert isinstance(lif, LIF) and (lif.reset_mode, lif.reset_timing) == ("subtract", "next_step")
    assert isinstance(g.op("lif_spike_delay"), Delay) and g.metadata["convention"] == "spyx"


def test_plain_nir_load_with_spyx_options_gives_spyxs_membranes(tmp_path):
    """snnc.load with dt, subtract and next_step: every membrane is Spyx's; the spikes leave one
    tick earlier than Spyx's (which load_spyx_nir adds)."""
    rng = np.random.default_rng(5)
    graph = spyx_graph(rng)
    path = tmp_path / "spyx.nir"
    nir.write(path, graph)
    x = rng.uniform(0, 1.5, (120, 2, 3))
    z1, _, _ = spyx_reference(graph, x, DT)
    g = snnc.load(path, dt=DT, reset_mode="subtract", reset_timing="next_step")
    _, rec = snnc.simulate(g, x, record=["lif", "lif:v"])
    assert np.array_equal(rec["lif"][:-1], z1[1:])
    v1 = np.zeros((2, 4))
    beta, w = 1 - DT / graph.nodes["lif"].tau, (DT / graph.nodes["lif"].tau)[:, None] * graph.nodes["fc1"].weight
    b = DT / graph.nodes["lif"].tau * graph.nodes["fc1"].bias
    for t, xt in enumerate(x):
        v1 = beta * v1 + xt @ w.T + b - (v1 > 1.0)
        assert np.allclose(rec["lif:v"][t], v1, rtol=1e-12, atol=1e-12)


def test_spyx_reader_refuses_parameters_spyx_would_ignore(tmp_path):
    graph = spyx_graph(np.random.default_rng(6))
    graph.nodes["lif"].r = np.full(4, 2.0)
    path = tmp_path / "r.nir"
    nir.write(path, graph)
    with pytest.raises(UnsupportedOpError) as err:
        fjax.load_spyx_nir(path, dt=DT)
    assert str(err.value) == (f"{path}, node 'lif', op 'snn.lif': r = 2, but Spyx's reader assumes r = 1 and "
                              f"ignores the file's value; read it with snnc.load for NIR's meaning")


# ================================================================================================
# (b) step functions
# ================================================================================================
@pytest.fixture(scope="module")
def jax():
    return pytest.importorskip("jax")


B, N_IN, N_HID, N_OUT, TICKS = 8, 20, 32, 10, 200


def make_params(jax, seed=0):
    jnp = jax.numpy
    rng = np.random.default_rng(seed)
    f32 = lambda a: jnp.asarray(a, jnp.float32)      # noqa: E731
    return {"w1": f32(rng.normal(0, 0.5, (N_IN, N_HID))), "b1": f32(rng.normal(0.05, 0.05, N_HID)),
            "beta1": f32(rng.uniform(0.8, 0.97, N_HID)), "w2": f32(rng.normal(0.1, 0.4, (N_HID, N_OUT))),
            "beta2": f32(rng.uniform(0.8, 0.97, N_OUT)), "thr": f32(1.0)}


def lif_net(jax, reset, probe=False):
    """Two LIF layers (x @ W1 + b1, then spikes @ W2), reset by subtraction or to zero in the
    spiking tick; outputs both layers' spikes (and with `probe`, for the check in JAX, the
    integrated membranes)."""
    jnp = jax.numpy

    def layer(v, drive, beta, thr):
        v = beta * v + drive
        z = v > thr
        new = v - z.astype(jnp.float32) * thr if reset == "subtract" else jnp.where(z, 0.0, v)
        return new, z.astype(jnp.float32), v

    def step(params, state, x):
        v1, z1, u1 = layer(state["v1"], x @ params["w1"] + params["b1"], params["beta1"], params["thr"])
        v2, z2, u2 = layer(state["v2"], z1 @ params["w2"], params["beta2"], params["thr"])
        return {"v1": v1, "v2": v2}, ((z1, z2, u1, u2) if probe else (z1, z2))

    return step


def inputs(jax, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (TICKS, B, N_IN)) * (rng.random((TICKS, B, N_IN)) < 0.3)
    return jax.numpy.asarray(x, jax.numpy.float32)


def zero_state(jax):
    jnp = jax.numpy
    return {"v1": jnp.zeros((B, N_HID), jnp.float32), "v2": jnp.zeros((B, N_OUT), jnp.float32)}


def check_agreement(jax_spikes, snnc_spikes, membranes, thr=1.0):
    """Identical, or ≥ 99.9 % equal with the first difference of every sample at the threshold
    (a float32 membrane within rounding of θ); returns the agreement."""
    total = sum(s.size for s in jax_spikes)
    equal = sum(int(np.sum(a == b)) for a, b in zip(jax_spikes, snnc_spikes))
    for b in range(jax_spikes[0].shape[1]):
        firsts = [(np.argmax(np.any(a[:, b] != s[:, b], axis=-1)), k) for k, (a, s) in
                  enumerate(zip(jax_spikes, snnc_spikes)) if np.any(a[:, b] != s[:, b])]
        if firsts:
            t, k = min(firsts)
            flips = jax_spikes[k][t, b] != snnc_spikes[k][t, b]
            assert np.all(np.abs(membranes[k][t, b][flips] - thr) <= 1e-5 * max(1.0, thr)), (t, b, k)
    assert equal / total >= 0.999
    return equal / total


@pytest.mark.parametrize("reset, mode", [("subtract", "subtract"), ("zero", "value")])
def test_lif_step_function_matches_jax_scan(jax, reset, mode):
    step, params = lif_net(jax, reset), make_params(jax)
    x = inputs(jax)
    g = snnc.load(step, params=params, state=zero_state(jax), sample_input=x[0], dt=DT)
    lifs = [n for n, node in g.nodes.items() if isinstance(node.op, LIF)]
    assert len(lifs) == 2 and all(g.op(n).reset_mode == mode and g.op(n).reset_timing == "immediate"
                                  for n in lifs)
    probe = lif_net(jax, reset, probe=True)
    _, (z1, z2, u1, u2) = jax.lax.scan(lambda s, xt: probe(params, s, xt), zero_state(jax), x)
    y = snnc.simulate(g, np.asarray(x, dtype=np.float64))
    jz = [np.asarray(z1), np.asarray(z2)]
    agree = check_agreement(jz, [y["out.0"], y["out.1"]], [np.asarray(u1), np.asarray(u2)])
    print(f"{reset} reset: {int(jz[0].sum())} + {int(jz[1].sum())} JAX spikes over {TICKS} ticks, "
          f"agreement {agree:.6f}")
    assert jz[0].sum() > 500 and jz[1].sum() > 200


def test_graph_structure_and_names(jax):
    step, params = lif_net(jax, "subtract"), make_params(jax)
    g = snnc.load(step, params=params, state=zero_state(jax), sample_input=inputs(jax)[0], dt=2e-3)
    assert list(g.inputs) == ["x"] and list(g.outputs) == ["out.0", "out.1"]
    affine = next(node for node in g.nodes.values() if isinstance(node.op, Affine))    # x @ W1 + b1
    assert np.array_equal(affine.op.weight, np.asarray(params["w1"], np.float64).T)
    assert np.array_equal(affine.op.bias, np.asarray(params["b1"], np.float64))
    assert "dot_general at" in affine.origin and "test_jax.py" in affine.origin
    linear = next(node for node in g.nodes.values() if isinstance(node.op, Linear))    # z1 @ W2
    assert np.array_equal(linear.op.weight, np.asarray(params["w2"], np.float64).T)
    lif = next(node.op for node in g.nodes.values() if isinstance(node.op, LIF))
    beta = np.asarray(params["beta1"], np.float64)
    assert np.allclose(lif.tau, 2e-3 / (1 - beta), rtol=1e-12)       # α(τ) = β exactly under euler
    assert np.all(lif.v_leak == 0)
    assert g.metadata["source"] == "jax"


def test_per_sample_step_through_vmap(jax):
    """A step written for one sample (x [N_in]) loads once vmapped over the batch."""
    jnp = jax.numpy
    params = make_params(jax)

    def step(params, v, x):
        v = params["beta1"] * v + x @ params["w1"]
        z = (v > params["thr"]).astype(jnp.float32)
        return v - z * params["thr"], z

    batched = jax.vmap(step, in_axes=(None, 0, 0))
    s0, x = jnp.zeros((B, N_HID), jnp.float32), inputs(jax, seed=3)
    g = snnc.load(batched, params=params, state=s0, sample_input=x[0])
    _, z = jax.lax.scan(lambda v, xt: batched(params, v, xt), s0, x)
    assert np.array_equal(snnc.simulate(g, np.asarray(x, np.float64)), np.asarray(z))


def test_stateless_relu_step_is_an_ann_that_converts(jax):
    """A JAX MLP (state={}) imports as affine layers and ann.relu, runs as itself, and converts."""
    jnp = jax.numpy
    rng = np.random.default_rng(3)
    params = {"w1": jnp.asarray(rng.normal(0, 0.5, (6, 16)), jnp.float32),
              "b1": jnp.asarray(rng.normal(0.1, 0.1, 16), jnp.float32),
              "w2": jnp.asarray(rng.normal(0, 0.5, (16, 3)), jnp.float32),
              "b2": jnp.asarray(rng.normal(0, 0.1, 3), jnp.float32)}

    def mlp(params, state, x):
        h = jax.nn.relu(x @ params["w1"] + params["b1"])
        return state, h @ params["w2"] + params["b2"]

    x = rng.uniform(0, 1, (50, 6)).astype(np.float32)
    ann = snnc.load(mlp, params=params, state={}, sample_input=x[:1])
    assert [n.op.name for n in ann.nodes.values()] == ["snn.input", "snn.affine", "ann.relu", "snn.affine",
                                                       "snn.output"]
    logits = np.asarray(mlp(params, {}, jnp.asarray(x))[1])
    assert np.allclose(snnc.simulate(ann, x[None].astype(np.float64))[0], logits, atol=1e-5)
    from snnc.passes.convert_ann import encode
    g = snnc.load(mlp, params=params, state={}, sample_input=x[:1], convert_ann=True, calibration=x)
    y = snnc.simulate(g, encode(g, x, 512))
    assert np.max(np.abs(y[-1] / 512 - logits)) < 0.02 * np.max(np.abs(logits))


def test_heaviside_with_a_surrogate_gradient_and_snntorch_style_delayed_reset(jax):
    """custom_vjp (surrogate) and jit calls are inlined; jnp.heaviside(x, 0) is x > 0; a reset
    read from the previous tick's spike is next_step."""
    jnp = jax.numpy

    @jax.custom_vjp
    def spike(u):
        return jnp.heaviside(u, 0.0)
    spike.defvjp(lambda u: (spike(u), u), lambda u, g: (g / (1 + jnp.abs(u)) ** 2,))

    def probe(params, state, x):
        v, z_prev = state
        v = params["beta1"] * v + x @ params["w1"] - z_prev * params["thr"]
        z = spike(v - params["thr"])
        return (v, z), (z, v)

    def step(params, state, x):
        state, (z, _) = probe(params, state, x)
        return state, z

    params = make_params(jax)
    s0 = (jnp.zeros((B, N_HID), jnp.float32), jnp.zeros((B, N_HID), jnp.float32))
    x = inputs(jax, seed=2)
    g = fjax.load(step, params=params, state=s0, sample_input=x[0], dt=DT)
    lif = next(node.op for node in g.nodes.values() if isinstance(node.op, LIF))
    assert (lif.reset_mode, lif.reset_timing) == ("subtract", "next_step")
    _, (z, v) = jax.lax.scan(lambda s, xt: probe(params, s, xt), s0, x)
    y = snnc.simulate(g, np.asarray(x, np.float64))
    check_agreement([np.asarray(z)], [y], [np.asarray(v)])


def test_dispatch_callable_to_jax_and_torch_module_to_torch(jax):
    torch = pytest.importorskip("torch")
    assert frontend_for(lif_net(jax, "zero")).name == "jax"
    assert frontend_for(torch.nn.Linear(2, 3)).name == "torch"
    assert frontend_for(torch.nn.ReLU()).name == "torch"


# -- errors ------------------------------------------------------------------------------------------
def test_nonzero_initial_state_is_refused(jax):
    state = zero_state(jax)
    state["v2"] = state["v2"].at[0, 0].set(0.5)
    with pytest.raises(UsageError) as err:
        snnc.load(lif_net(jax, "zero"), params=make_params(jax), state=state, sample_input=inputs(jax)[0])
    assert str(err.value) == ("jax frontend: state v2 is not zero; snnc starts every state at zero, so pass "
                              "the zero state (only its shape is read)")


def test_missing_sample_input_and_unknown_options(jax):
    with pytest.raises(UsageError, match=r"^jax frontend: pass sample_input=, one tick of input \[B, \*shape\]"):
        fjax.load(lif_net(jax, "zero"), params=make_params(jax), state=zero_state(jax))
    with pytest.raises(UsageError, match=r"^jax frontend: unknown option\(s\) beta \(known: params, state, "):
        fjax.load(lif_net(jax, "zero"), beta=0.9, sample_input=inputs(jax)[0])


def test_unsupported_primitive_names_it_and_the_line(jax):
    jnp = jax.numpy

    def step(params, state, x):
        v = jnp.tanh(0.9 * state + x)
        return v, v

    s0 = jnp.zeros((2, 3), jnp.float32)
    with pytest.raises(UnsupportedOpError) as err:
        fjax.load(step, params={}, state=s0, sample_input=s0)
    msg = str(err.value)
    assert msg.startswith("jax step 'step', node 'tanh at ") and "test_jax.py:" in msg
    assert "primitive 'tanh' applied to per-tick values has no snnc equivalent (supported: add, " in msg


def test_wrong_return_structure(jax):
    jnp = jax.numpy
    s0 = {"v": jnp.zeros((2, 3), jnp.float32)}
    with pytest.raises(UsageError) as err:
        fjax.load(lambda p, s, x: ({"u": s["v"]}, x), params={}, state=s0, sample_input=s0["v"])
    assert str(err.value).startswith("jax step '<lambda>': the new state has structure")
    with pytest.raises(UsageError, match=r"must return \(new_state, output\)"):
        fjax.load(lambda p, s, x: x, params={}, state=s0, sample_input=s0["v"])


def test_snnc_imports_and_reports_cleanly_without_jax():
    """With jax unimportable: snnc and this module import; a callable is not claimed; load says why."""
    code = (
        "import sys; sys.modules['jax'] = None\n"
        "import importlib.util as u; real = u.find_spec\n"
        "u.find_spec = lambda name, *a: None if name == 'jax' else real(name, *a)\n"
        "import snnc, snnc.frontends.jax as fj\n"
        "from snnc.errors import UsageError\n"
        "try:\n    snnc.load(lambda p, s, x: (s, x))\nexcept UsageError as e:\n    print(e)\n"
        "try:\n    fj.load(lambda p, s, x: (s, x), sample_input=[[0.0]])\nexcept UsageError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("cannot load a function: pass a model file path")
    assert lines[1] == "jax frontend: JAX is not installed (pip install jax)"
