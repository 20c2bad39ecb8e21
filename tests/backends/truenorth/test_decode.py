"""The artifact is the truth: a TrueNorth artifact decodes, from its files alone, to the graph the
compiler mapped — node for node, spike for spike — and emitting the decoded graph writes the
same bytes. Files that do not hold what FORMAT.md promises are refused naming file and entry."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import snnc
from snnc.artifact import Artifact, json_bytes, manifest, npz_bytes, read_npz, run_mapped
from snnc.backend import backend
from snnc.backends.truenorth.decode import decode
from snnc.errors import MalformedInputError
from snnc.passes.manager import run_pipeline
from snnc.targets import get_target
from tests.artifact_edit import edit_arrays, edit_json
from tests.backends.truenorth.nets import chain, rates, ternary

TN = get_target("truenorth")
FAMILY = backend("truenorth")


@st.composite
def source_graphs(draw):
    """(graph, compile options): 1–3 snn.if layers, ternary or Gaussian weights, biases, a skip
    connection, every reset mode, now and then a fan-in over 256 axons or a layer over 256 neurons."""
    n_layers = draw(st.integers(1, 3))
    sizes = [draw(st.integers(1, 20)) for _ in range(n_layers + 1)]
    wide = draw(st.sampled_from([None] * 6 + ["fan_in", "neurons"]))
    event(f"wide: {wide}")
    if wide == "fan_in":
        sizes[0] = draw(st.integers(257, 300))
    elif wide == "neurons":
        sizes[1] = draw(st.integers(257, 280))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    gauss = draw(st.booleans())
    weights = [rng.standard_normal((o, i)) * (1.5 / np.sqrt(i)) if gauss else ternary(rng, o, i, p=0.5)
               for i, o in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.05, o) for o in sizes[1:]] if draw(st.booleans()) else None
    skip = (0, n_layers - 1, ternary(rng, sizes[-1], sizes[1])) if n_layers >= 2 and draw(st.booleans()) else None
    g = chain(weights, theta=draw(st.sampled_from([0.5, 1.0, 2.0])), biases=biases, skip=skip,
              reset_mode=draw(st.sampled_from(["value", "subtract", "none"])))
    options = {"truenorth-partition": {"fan_out": draw(st.sampled_from(["auto", "copies", "splitter"]))},
               "truenorth-encode": {"duplication": draw(st.integers(0, 4))}}
    return g, options


def _runs_agree(a, b, x, seed):
    """run_mapped of two chip graphs, raw timeline, every layer: identical outputs and spikes."""
    out_a, layers_a = run_mapped(a, x, raw=True, layers=True, seed=seed)
    out_b, layers_b = run_mapped(b, x, raw=True, layers=True, seed=seed)
    assert set(out_a) == set(out_b) and set(layers_a) == set(layers_b)
    for k in out_a:
        assert np.array_equal(out_a[k], out_b[k]), k
    for k in layers_a:
        assert np.array_equal(layers_a[k], layers_b[k]), k
    return layers_a


def _emitted_again(art: Artifact):
    again = FAMILY.emit(art.graph, TN, FAMILY.emit_options())
    return again, {k: v for k, v in art.files.items() if k != "manifest.json"}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(source_graphs(), st.integers(0, 3))
def test_decoded_artifacts_run_like_the_compiled_graph_and_emit_the_same_bytes(case, seed):
    _, layers = _round_trip(*case, seed)
    event(f"layers spiking: {sum(v.any() for v in layers.values())} of {len(layers)}")


@pytest.mark.parametrize("n_in, hidden, fan_out, made", [(300, 12, "auto", "partial"), (16, 270, "copies", "if0.1"),
                                                         (20, 30, "splitter", "splitter")])
def test_wide_layers_and_splitters_round_trip(n_in, hidden, fan_out, made):
    """Always covered, whatever the draws: a fan-in split into partial sums, a layer cut over
    two cores, splitter cores."""
    rng = np.random.default_rng(n_in + hidden)
    g = chain([rng.standard_normal((hidden, n_in)) * (1.5 / np.sqrt(n_in)), ternary(rng, 7, hidden)], theta=1.0)
    mapped, layers = _round_trip(g, {"truenorth-partition": {"fan_out": fan_out}}, 1)
    assert all(v.any() for v in layers.values()) and made in set(mapped.mapping.roles.values()) | set(mapped.mapping.roles)


def _recurrent_readout_net():
    """6 → 8 LIF fed back into itself (snnTorch RLeaky's shape) → an LI readout on the host."""
    from snnc.ir import GraphBuilder
    from snnc.ir.snn import LI, Linear
    from tests.netbuild import lif
    rng = np.random.default_rng(5)
    b = GraphBuilder()
    b.input("x", (6,))
    b.add("fc", Linear(weight=rng.standard_normal((8, 6)) * 1.5), "x")
    b.add("h", lif(8, reset_mode="subtract", reset_timing="next_step"), "fc")
    b.add("rec", Linear(weight=rng.standard_normal((8, 8)) * 0.5), "h")
    b.connect("rec", "h", recurrent=True)
    b.add("ro_fc", Linear(weight=rng.standard_normal((3, 8))), "h")
    b.output("y", b.add("ro", LI(tau=np.full(3, 5e-3), r=np.ones(3), v_leak=np.zeros(3)), "ro_fc"), (3,))
    return b.build()


def _converted_ann():
    """A 6-5-3 ReLU MLP converted with current coding: its input reaches the chip through a host encoder."""
    from snnc.ir import GraphBuilder
    from snnc.ir.ann import ReLU
    from snnc.ir.snn import Affine
    rng = np.random.default_rng(6)
    b = GraphBuilder()
    h = b.add("fc1", Affine(weight=rng.normal(0, 0.6, (5, 6)), bias=rng.normal(0, 0.1, 5)), b.input("x", (6,)))
    b.output("y", b.add("fc2", Affine(weight=rng.normal(0, 0.6, (3, 5)), bias=np.zeros(3)),
                        b.add("relu", ReLU(), h)), (3,))
    return snnc.load(b.build(), convert_ann=True, calibration=rng.uniform(0, 1, (50, 6)))


@pytest.mark.parametrize("build", [_recurrent_readout_net, _converted_ann,
                                   lambda: __import__("tests.backends.truenorth.test_lowering",
                                                      fromlist=["_loop"])._loop(20, self_loop=True)],
                         ids=["feedback-and-readout", "input-encoder", "relays"])
def test_host_programs_feedback_and_relays_round_trip(build):
    """The host program (readouts, input encoders), routes behind recurrent edges and relay cores
    decode to the mapped graph, run like it and emit the same bytes."""
    mapped, _ = _round_trip(build(), {}, 2)
    assert mapped.mapping.roles or mapped.mapping.latency


def _round_trip(g, options: dict, seed: int):
    """Compile; decode; the decoded graph equals the mapped one, runs like it, emits the same bytes."""
    mapped = run_pipeline(g, TN, options=options).graph
    art = snnc.compile(g, TN, **options)
    decoded = decode(art, TN)
    assert decoded == mapped                          # names, origins, registers, routes, mapping record
    x = {"x": rates(24, 2, g.op("x").shape[0], p=0.4, seed=seed)}
    layers = _runs_agree(mapped, decoded, x, seed)
    assert set(layers) == set(mapped.mapping.layers)
    again, files = _emitted_again(art)
    assert dict(again.files) == files                 # every family file, byte for byte
    assert {k: art.manifest[k] for k in again.sections} == json.loads(json_bytes(dict(again.sections)))
    return mapped, layers


# -- stochastic cores: every register and the PRN stream survive the files ----------------------------
def _stochastic(graph, rng):
    """`graph` with random stochastic synapses, leaks, threshold masks, leak reversal and a PRN
    seed on every core (nothing the passes make, but what the format must carry)."""
    from snnc.backends.truenorth.ops import Core
    for name, node in graph.nodes.items():
        op = node.op
        if isinstance(op, Core):
            n = op.neurons
            graph = graph.with_op(name, op.replace(
                stochastic_weight=rng.integers(0, 2, (n, 4)), stochastic_leak=rng.integers(0, 2, n),
                leak=rng.integers(-4, 31, n), leak_reversal=rng.integers(0, 2, n),
                threshold_mask_bits=rng.integers(0, 9, n), prng_seed=int(rng.integers(0, 1000))))
    return graph.verify()


def _artifact(graph) -> Artifact:
    out = FAMILY.emit(graph, TN, FAMILY.emit_options())
    files = dict(out.files)
    files["manifest.json"] = json_bytes(manifest(TN, {"kind": "graph", "sha256": ""}, [], out.sections, files))
    return Artifact(files)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2 ** 16), st.sampled_from(["copies", "splitter"]))
def test_stochastic_registers_and_prn_streams_decode_to_the_same_draws(seed, fan_out):
    rng = np.random.default_rng(seed)
    g = chain([ternary(rng, 9, 12, p=0.6), ternary(rng, 7, 9, p=0.6)], theta=1.0)
    mapped = _stochastic(run_pipeline(g, TN, options={"truenorth-partition": {"fan_out": fan_out}}).graph, rng)
    art = _artifact(mapped)
    assert art.graph == mapped
    layers = _runs_agree(mapped, art.graph, {"x": rates(80, 2, 12, p=0.5, seed=seed)}, seed)
    assert any(v.any() for v in layers.values())
    again, files = _emitted_again(art)
    assert dict(again.files) == files


# -- files that do not hold what the format promises --------------------------------------------------
@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    g = chain([ternary(rng, 8, 10), ternary(rng, 6, 8), ternary(rng, 5, 6)], theta=2.0,
              skip=(0, 2, ternary(rng, 5, 8)))
    return snnc.compile(g, "truenorth")


def _edit(art: Artifact, name: str, change) -> Artifact:
    """A copy of `art` whose file `name` (JSON object or npz arrays) `change` edited in place."""
    return (edit_json if name.endswith(".json") else edit_arrays)(art, name, change)


def _drop(art: Artifact, name: str) -> Artifact:
    return Artifact({k: v for k, v in art.files.items() if k != name})


def _set(key, value):
    return lambda obj: obj.__setitem__(key, value)


CORE0, CORE2 = "cores/core_0000", "cores/core_0002"
BROKEN = [
    (lambda a: _drop(a, "host.json"), "host.json: missing: the format requires this file"),
    (lambda a: _drop(a, f"{CORE2}.npz"), f"{CORE2}.json: core 2 has a .json file but no .npz file"),
    (lambda a: _edit(a, f"{CORE2}.json", _set("core", 7)), f"{CORE2}.json: 'core' = 7, the file name says core 2"),
    (lambda a: _edit(a, f"{CORE2}.json", _set("role", "repeater")),
     f"{CORE2}.json: role 'repeater' is not one of neurons, partial, combiner, splitter, relay"),
    (lambda a: _edit(a, f"{CORE2}.json", _set("latency", "2")), f"{CORE2}.json: core 2: 'latency' = '2', expected int"),
    (lambda a: _edit(a, f"{CORE2}.json", _set("prng_seed", -1)),
     f"{CORE2}.json: 'prng_seed' = -1, expected an integer >= 0"),
    (lambda a: _edit(a, f"{CORE2}.json", _set("position", [0, 0, 2])),
     f"{CORE2}.json: core 2: 'position' = [0, 0, 2], expected a list of 4 integers"),
    (lambda a: _edit(a, f"{CORE2}.json", lambda m: m.pop("routes_in")),
     f"{CORE2}.json: core 2: missing key 'routes_in'"),
    (lambda a: _edit(a, f"{CORE2}.json", _set("node", "if0")), f"{CORE2}.json: node 'if0' is also the node of core 0"),
    (lambda a: _edit(a, "host.json", lambda h: h["outputs"][0]["routes_in"][0].__setitem__("node", "if1")),
     "host.json: node name 'if1' names both a core and a route"),
    (lambda a: _edit(a, f"{CORE2}.json", lambda m: m["routes_in"].pop()),
     f"{CORE0}.npz: dest row 0 (neuron 0) sends to 'if2', which declares no route from 'if0' (routes_in)"),
    (lambda a: _edit(a, f"{CORE2}.json", lambda m: m["routes_in"][0].__setitem__("source", "if9")),
     f"{CORE2}.json: if2: routes_in[0]: source 'if9' is not a graph input or core node that may feed 'if2'"),
    (lambda a: _edit(a, f"{CORE0}.npz", lambda z: z.pop("neuron.alpha")), f"{CORE0}.npz: lacks array 'neuron.alpha'"),
    (lambda a: _edit(a, f"{CORE0}.npz", _set("extra", np.zeros(3, np.int64))),
     f"{CORE0}.npz: holds array 'extra', which the format has not"),
    (lambda a: _edit(a, f"{CORE0}.npz", _set("axon_type", np.zeros(3, np.float64))),
     f"{CORE0}.npz: array 'axon_type' has dtype float64, expected integers"),
    (lambda a: _edit(a, f"{CORE0}.npz", lambda z: z["neuron.alpha"].__setitem__(3, -1)),
     f"{CORE0}.npz: alpha must lie in >= 0, got [-1, 509]"),
    (lambda a: _edit(a, f"{CORE0}.npz", lambda z: z["dest.core"].__setitem__(0, 9)),
     f"{CORE0}.npz: dest row 0 (neuron 0): sends to core 9, which has no files"),
    (lambda a: _edit(a, f"{CORE0}.npz", lambda z: z["dest.neuron"].__setitem__(0, 99)),
     f"{CORE0}.npz: dest row 0 (neuron 99): the core has 24 neurons"),
    (lambda a: _edit(a, f"{CORE0}.npz", lambda z: z.__setitem__("dest.axon", z["dest.axon"][1:])),
     f"{CORE0}.npz: dest.* must be 1-D arrays of one length, got shapes [[24], [24], [23], [24]]"),
    (lambda a: _edit(a, "host.npz", lambda z: z["input.x.target"].__setitem__((0, 0), 5)),
     "host.npz: input.x element 0: targets core 5 axon 0 delay 0, which is not an axon of a core within the "
     "scheduler's 16 ticks"),
    (lambda a: _edit(a, "host.npz", lambda z: z.__setitem__("input.x.ptr", z["input.x.ptr"][:-1])),
     "host.npz: input.x: ptr [10] and target [18, 3] are not a map of 10 elements (ptr [n+1] from 0, "
     "non-decreasing, to the rows of target [m, 3])"),
    (lambda a: _edit(a, "host.npz", lambda z: z["output.y.source"].__setitem__((1, 1), 0)),
     "host.npz: output.y.source element 1 reads core 2 neuron 0, which sends nothing to host element 1"),
    (lambda a: _edit(a, "host.npz", _set("output.z.source", np.zeros((1, 2), np.int64))),
     "host.npz: holds array 'output.z.source', which names no input or output of host.json"),
    (lambda a: _edit(a, "host.json", lambda h: h["graph"]["metadata"].__setitem__("k", 1)),
     "host.json: graph: 'metadata' must map names to strings"),
    (lambda a: _edit(a, "host.json", lambda h: h["inputs"][0].__setitem__("node", "u")),
     "host.json: mapping.inputs lists ['x'], 'inputs' lists ['u']"),
    (lambda a: _edit(a, "host.json", lambda h: h["mapping"].__setitem__("cores", {"if0": 3})),
     "host.json: mapping.cores: the host holds only inputs, outputs and layers (the core files hold the rest)"),
    (lambda a: _edit(a, "host.json", lambda h: h["mapping"]["outputs"]["y"].__setitem__("latency", "x")),
     "host.json: mapping.outputs.y: expected an integer, got 'x'"),
]


@pytest.mark.parametrize("corrupt, message", BROKEN, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(BROKEN)])
def test_a_file_that_breaks_the_format_is_refused_naming_file_and_entry(small, corrupt, message):
    bad = corrupt(small)
    with pytest.raises(MalformedInputError) as err:
        decode(bad, TN)
    assert str(err.value).startswith(message)


def test_the_output_element_not_read_is_named_by_its_core_file(small):
    """A neuron sending to a host element that no output reads: its core's file is named."""
    host = read_npz(small.files["host.npz"])
    core, neuron = (int(v) for v in host["output.y.source"][4])
    bad = _edit(small, "host.npz", lambda z: z.__setitem__("output.y.source", z["output.y.source"][:4]))
    with pytest.raises(MalformedInputError) as err:
        decode(bad, TN)
    assert str(err.value) == (f"cores/core_{core:04d}.npz: neuron {neuron} sends to host element 4, which no output "
                              f"or host node of host.npz reads")


@pytest.fixture(scope="module")
def hosted():
    """An artifact with a host program (LI readout) and a route behind a recurrent edge."""
    return snnc.compile(_recurrent_readout_net(), "truenorth")


HOSTED = [
    (lambda a: _edit(a, "host.json", lambda h: h["reads"][0].__setitem__("stream", "nope")),
     "host_program.snnir: its inputs ['ro_fc.chip'] are not graph inputs (in order) then the streams host.json "
     "reads ['nope']"),
    (lambda a: _edit(a, "host.json", lambda h: h["host_latency"].pop("ro")),
     "host.json: 'host_latency' names ['ro_fc'], the program runs ['ro', 'ro_fc']"),
    (lambda a: _edit(a, "host.json", _set("sends", ["ghost"])),
     "host.json: 'sends' names ['ghost'], which the program does not run"),
    (lambda a: _drop(a, "host_program.snnir"),
     "host.json: names host nodes ('reads', 'host_latency') but host_program.snnir is missing"),
    (lambda a: _edit(a, f"{CORE0}.npz", lambda z: z["dest.delay"].__setitem__(
        np.flatnonzero(z["dest.core"] == 0)[0], 0)),
     f"{CORE0}.json: route 'h.to.h' is recurrent but an entry has delay 0"),
]


@pytest.mark.parametrize("corrupt, message", HOSTED, ids=[m.split(":")[0] + f"-{i}" for i, (_, m) in enumerate(HOSTED)])
def test_a_broken_host_program_or_recurrent_route_is_refused(hosted, corrupt, message):
    with pytest.raises(MalformedInputError) as err:
        decode(corrupt(hosted), TN)
    assert str(err.value).startswith(message)


def test_verify_reports_files_that_do_not_decode_and_exits_1(small, tmp_path, capsys):
    from snnc.cli import main
    _edit(small, f"{CORE2}.json", lambda m: m["routes_in"].pop()).save(tmp_path / "art")
    capsys.readouterr()
    assert main(["verify", str(tmp_path / "art")]) == 1
    out = capsys.readouterr().out
    assert (f"artifact: the files describe no runnable chip: {tmp_path / 'art' / CORE0}.npz: dest row 0 (neuron 0) "
            f"sends to 'if2', which declares no route from 'if0' (routes_in) (truenorth.decode)") in out


@pytest.mark.parametrize("pipeline, missing", [
    (["prune", "truenorth-legalize", "truenorth-encode"], "core node 'if0' has no entry in mapping.cores"),
    (["prune", "truenorth-legalize", "truenorth-encode", "truenorth-partition"],
     "core 0 (node 'if0') has no position (mapping.place)"),
])
def test_emitting_a_graph_the_pipeline_left_unmapped_names_what_is_missing(pipeline, missing):
    from snnc.errors import UsageError
    g = chain([ternary(np.random.default_rng(0), 4, 5)])
    with pytest.raises(UsageError) as err:
        snnc.compile(g, "truenorth", pipeline=pipeline)
    assert str(err.value) == f"emit: {missing}; the TrueNorth pipeline ends with truenorth-partition and place"


# -- any edit: refused by name or decoded, never a crash -------------------------------------------------
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-3, 300) | st.floats() | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                       max_size=3), max_leaves=6)


def _paths(obj, prefix=()):
    yield prefix
    children = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in children:
        yield from _paths(v, prefix + (k,))


def _edit_json(text: bytes, data) -> bytes:
    obj = json.loads(text)
    path = data.draw(st.sampled_from(list(_paths(obj))))
    value = data.draw(JSON_VALUES)
    if not path:
        return json.dumps(value).encode()
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    if data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return json.dumps(obj).encode()


def _edit_npz(text: bytes, data) -> bytes:
    arrays = read_npz(text)
    key = data.draw(st.sampled_from(sorted(arrays)))
    a = arrays[key].astype(np.int64)
    how = data.draw(st.sampled_from(["value", "length", "dtype", "drop"]))
    if how == "value" and a.size:
        a.flat[data.draw(st.integers(0, a.size - 1))] = data.draw(st.integers(-3, 300))
    elif how == "length":
        a = a.reshape(-1)[:data.draw(st.integers(0, a.size))]
    elif how == "dtype":
        a = a.astype(data.draw(st.sampled_from([np.float64, np.bool_, np.int8])))
    if how == "drop":
        del arrays[key]
    else:
        arrays[key] = a
    return npz_bytes(arrays)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_edit_of_a_file_is_decoded_or_refused_by_name_and_the_rules_never_fail(small, data):
    name = data.draw(st.sampled_from(sorted(k for k in small.files if k != "manifest.json")))
    files = dict(small.files)
    files[name] = (_edit_json if name.endswith(".json") else _edit_npz)(files[name], data)
    art = Artifact(files)
    try:
        graph = decode(art, TN)
    except MalformedInputError as exc:
        assert str(exc).startswith(("cores/", "host.", "<artifact>")), str(exc)
    else:                                               # what decodes runs
        x = {name: np.ones((4, 1, *entry.shape)) for name, entry in graph.mapping.inputs.items()}
        outputs, _ = run_mapped(graph, x, raw=True, layers=True)
        assert set(outputs) == set(graph.mapping.outputs)
    diagnostics, checked = FAMILY.rules(art, TN)
    assert all(d.where and d.rule for d in diagnostics)
