"""Chunked runs (snnc.interp.parallel) equal one run of the whole batch, array for array,
in this process, in worker processes and on a local Ray instance."""
from __future__ import annotations

import numpy as np
import pytest

import snnc
from snnc.errors import UsageError
from snnc.interp.engine import run
from snnc.interp.parallel import chunked, pack_graph, run_batched, unpack_graph
from tests.interp.test_fused import partitioned_loihi, spikes, truenorth_mesh
from tests.netbuild import mlp
from tests.netbuild import spikes as float_spikes


def assert_same(a, b):
    assert a.outputs.keys() == b.outputs.keys() and a.recorded.keys() == b.recorded.keys()
    for k in a.outputs:
        assert np.array_equal(a.outputs[k], b.outputs[k]), k
    for k in a.recorded:
        assert np.array_equal(a.recorded[k], b.recorded[k]), k


class Counter:
    """A progress reporter that remembers what it was told."""

    def __init__(self):
        self.done, self.total = 0, None

    def advance(self, n=1):
        self.done += n

    def note(self, text):
        pass

    def update(self, *, total=None, description=None):
        self.total = total


@pytest.mark.parametrize("batch_size", [1, 3, 7])
def test_chunks_of_a_partitioned_recurrent_loihi_run_join_to_the_whole_run(batch_size):
    g = partitioned_loihi(2, recurrent=True)
    x = {"x": spikes(20, 7, 12, 3)}
    whole = run(g, x, record=["l0.1", "l1.0:v"])
    bar = Counter()
    parts = run_batched(g, x, batch_size=batch_size, record=["l0.1", "l1.0:v"], progress=bar)
    assert_same(whole, parts)
    assert (bar.done, bar.total) == (7, 7)


def test_stochastic_truenorth_cores_draw_the_whole_runs_numbers_in_every_chunk():
    g = truenorth_mesh(1, stochastic_every=2)
    x = {"x": spikes(25, 5, 8, 4, p=0.5)}
    whole = run(g, x, seed=9)
    assert_same(whole, run_batched(g, x, batch_size=2, seed=9))
    other_seed = run_batched(g, x, batch_size=2, seed=10)
    assert any(not np.array_equal(whole.outputs[k], other_seed.outputs[k]) for k in whole.outputs)


def test_analog_monte_carlo_chunks_keep_each_chip_and_its_read_noise():
    art = snnc.compile(mlp((6, 8, 3), seed=1), "analog")
    g = art.graph
    x = {g.inputs[0]: float_spikes(15, 5, 6, p=0.5, seed=2)}
    whole = run(g, x, seed=3, chip_instances=3)
    assert_same(whole, run_batched(g, x, batch_size=2, seed=3, chip_instances=3))
    two = run(g, x, seed=3, chip_instances=2, first_instance=1)     # chips 1 and 2 alone are the same chips
    per = lambda y, n: y.reshape(y.shape[0], n, 5, -1)  # noqa: E731
    for k in whole.outputs:
        assert np.array_equal(per(whole.outputs[k], 3)[:, 1:], per(two.outputs[k], 2))


def test_two_worker_processes_give_the_single_process_result():
    g = partitioned_loihi(5, delay=True, graded=True)
    x = {"x": spikes(15, 6, 12, 8)}
    bar = Counter()
    assert_same(run(g, x), run_batched(g, x, workers=2, progress=bar))
    assert bar.done == 6


def test_a_ray_run_gives_the_single_process_result():
    ray = pytest.importorskip("ray")
    g = truenorth_mesh(2, stochastic_every=3)
    x = {"x": spikes(12, 4, 8, 5, p=0.5)}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        assert_same(run(g, x, seed=4), run_batched(g, x, batch_size=2, seed=4, ray="local"))
    finally:
        ray.shutdown()


def test_a_compiled_graph_crosses_processes_unchanged():
    import pickle
    g = snnc.compile(mlp((6, 8, 3), seed=1), "loihi").graph
    g.schedule()                                           # caches are not sent
    back = unpack_graph(pickle.loads(pickle.dumps(pack_graph(g))))
    assert back == g and back.mapping == g.mapping and back.schedule() == g.schedule()
    pair = unpack_graph(pack_graph((g, g)))
    assert isinstance(pair, tuple) and pair[1] == g


def test_chunked_joins_instance_major_results_and_nested_structures():
    x = {"x": np.arange(2 * 5 * 1).reshape(2, 5, 1)}

    def fn(graph, chunk, window):
        y = chunk["x"]
        return {"pair": (np.concatenate([y, y + 100], axis=1), window[1])}
    out = chunked(fn, x, batch_size=2, instances=2)
    y = x["x"]
    assert np.array_equal(out["pair"][0], np.concatenate([y, y + 100], axis=1)) and out["pair"][1] == 5


@pytest.mark.parametrize("kw, message", [
    ({"workers": 0}, "workers must be an integer >= 1, got 0"),
    ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
])
def test_bad_chunking_options_are_refused_with_the_value(kw, message):
    g = partitioned_loihi(0)
    with pytest.raises(UsageError, match=message):
        run_batched(g, {"x": spikes(3, 2, 12, 0)}, **kw)


def test_cli_simulate_with_workers_and_batch_size_writes_the_single_process_output(tmp_path, capsys):
    from snnc.cli import main
    from snnc.ir.text import save_snnir
    art = snnc.compile(mlp((6, 8, 3), seed=1), "analog")
    art.save(tmp_path / "m.analog")
    np.save(tmp_path / "x.npy", float_spikes(12, 5, 6, p=0.5, seed=2))
    save_snnir(mlp((6, 8, 3), seed=1), tmp_path / "m.snnir")
    for model in ("m.analog", "m.snnir"):
        outs = []
        for extra in ([], ["--workers", "2", "--batch-size", "2"]):
            out = tmp_path / f"y{len(outs)}.npy"
            assert main(["simulate", str(tmp_path / model), "--input", str(tmp_path / "x.npy"), "--chip-instances",
                         "3", "--seed", "4", "-o", str(out), *extra]) == 0
            outs.append(np.load(out))
        assert outs[0].shape == (3, 12, 5, 3) and np.array_equal(outs[0], outs[1]), model
    assert main(["simulate", str(tmp_path / "m.snnir"), "--input", str(tmp_path / "x.npy"), "--workers", "0"]) == 2
    assert "workers must be an integer >= 1, got 0" in capsys.readouterr().err


def _both_runs(graphs, chunk, window):
    model, chip = graphs
    return run(model, chunk, batch_window=window).outputs, run(chip, chunk, batch_window=window).outputs


def test_two_graphs_stream_through_worker_processes_as_a_verify_would():
    model = mlp((12, 9, 4), seed=2)
    chip = partitioned_loihi(3, sizes=(12, 9, 4))
    x = {"x": spikes(10, 6, 12, 1)}
    ref, joined = chunked(_both_runs, x, graph=(model, chip), workers=2, batch_size=2)
    assert np.array_equal(ref["y"], run(model, x).outputs["y"])
    whole = run(chip, x).outputs
    assert joined.keys() == whole.keys() and all(np.array_equal(joined[k], whole[k]) for k in whole)
