"""Dataset-scale runs: the batch split into chunks, run in worker processes or on Ray, joined.

    from snnc.interp.parallel import run_batched
    res = run_batched(graph, {"x": x}, batch_size=256, workers=4)        # a RunResult, as run()
    res = run_batched(graph, {"x": x}, workers=8, ray="auto")            # on a Ray cluster

What is guaranteed: the joined result is identical, array for array, to one `run` of the
whole batch, for every graph, however the batch is chunked and whoever runs the chunks.
Samples of a batch never interact, and a stepper whose random draws span the batch (a
stochastic TrueNorth core, an analog crossbar's read noise) is told which rows of the whole
run it holds (`batch_window`, `Context.whole_rows`) and draws the whole run's numbers.
Chip instances stay together in every chunk (each chunk runs all N instances of its samples).

`chunked(fn, inputs, ...)` is the general form: any function of a chunk of inputs and its
window whose result is arrays (or dicts, tuples, dataclasses of them) with the batch on one
axis. A verify of a dataset streams it through both runs this way, e.g.

    def both_runs(graphs, chunk, window):          # module level, so it pickles
        model, chip = graphs
        chip_out, chip_layers = run_mapped(chip, chunk, layers=True, seed=seed)
        ref = run(model, chunk, record=populations, seed=seed, batch_window=window)
        return chip_out, chip_layers, ref
    chip_out, chip_layers, ref = chunked(both_runs, xs, graph=(model, chip), workers=4, progress=bar)

and compares the joined arrays as it compares one run's.

Workers: `workers=1` runs in this process; `workers=N` in this process and N − 1 worker
processes started from a forkserver (the graph is sent to each once; a script that calls
this needs the usual `if __name__ == "__main__":` guard). This process runs chunks while the
workers start, so two workers are two cores busy from the first moment. Chunks and results
cross processes compactly: arrays of 0s and 1s (spikes, in any dtype) as packed bits,
rebuilt bit for bit (`snnc.interp.shipping`). `ray=ADDRESS` (or "auto", or "local" to start a
local Ray) submits the chunks as Ray tasks. Progress: `progress` (a `snnc.progress.Reporter`) advances by the
samples of each chunk as it completes.
"""
from __future__ import annotations

import concurrent.futures as futures
import contextlib
import copyreg
import dataclasses
import functools
import io
import multiprocessing
import os
import pickle
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from snnc.errors import SimulationError, UsageError
from snnc.interp import shipping
from snnc.interp.engine import RunResult, run
from snnc.ir.graph import Graph
from snnc.progress import SILENT, Reporter


def run_batched(graph: Graph, inputs: Mapping[str, np.ndarray], *, batch_size: int | None = None,
                workers: int = 1, ray: str | None = None, progress: Reporter = SILENT,
                **run_options) -> RunResult:
    """`engine.run(graph, inputs, **run_options)` over chunks of at most `batch_size` samples
    (default: the batch split evenly over the workers), joined into one identical RunResult."""
    instances = int(run_options.get("chip_instances", 1))
    fn = functools.partial(_run_chunk, run_options=run_options)
    return chunked(fn, inputs, graph=graph, batch_size=batch_size, workers=workers, ray=ray,
                   progress=progress, batch_axis=1, instances=instances)


def _run_chunk(graph: Graph, inputs: dict, window: tuple[int, int], *, run_options: dict) -> RunResult:
    return run(graph, inputs, batch_window=window, **run_options)


def simulate_batched(graph: Graph, x, *, batch_size: int | None = None, workers: int = 1,
                     ray: str | None = None, progress: Reporter = SILENT, **options):
    """`snnc.simulate(graph, x, **options)` over chunks of the batch, joined: the same arrays
    ([T, B, ...], or [N, T, B, ...] with chip_instances) as one call. Each chunk runs with its
    batch window, so stochastic steppers draw as in one run. A graph without a host mapping
    runs on the engine directly; a compiled one through `snnc.simulate` (the host's coding)."""
    from snnc import api
    mapped = graph.mapping is not None and bool(graph.mapping.inputs)
    xs = dict(x) if isinstance(x, Mapping) else ({"": x} if mapped else api.name_inputs(graph, x))
    fn = functools.partial(_simulate_chunk, single=not isinstance(x, Mapping), options=options)
    axis = 1 if options.get("chip_instances") is None else 2
    return chunked(fn, xs, graph=graph, batch_size=batch_size, workers=workers, ray=ray, progress=progress,
                   batch_axis=axis)


def _simulate_chunk(graph: Graph, xs: dict, window: tuple[int, int], *, single: bool, options: dict):
    from snnc import api
    mapped = graph.mapping is not None and bool(graph.mapping.inputs)
    if mapped:
        return api.simulate(graph, xs[""] if single else xs, batch_window=window, **options)
    n = options.get("chip_instances")
    res = run(graph, xs, batch_window=window, strict=options.get("strict", False), seed=options.get("seed", 0),
              chip_instances=1 if n is None else int(n))
    outs = res.outputs
    if n is not None:                 # [T, N·B, ...] -> [N, T, B, ...], as snnc.simulate gives it
        outs = {k: np.moveaxis(v.reshape(v.shape[0], int(n), -1, *v.shape[2:]), 1, 0) for k, v in outs.items()}
    return outs[graph.outputs[0]] if len(outs) == 1 else outs


def chunked(fn: Callable, inputs: Mapping[str, np.ndarray], *, graph: Graph | tuple | None = None,
            batch_size: int | None = None, workers: int = 1, ray: str | None = None,
            progress: Reporter = SILENT, batch_axis: int = 1, instances: int = 1):
    """Join `fn(graph, chunk_inputs, (start, B))` over chunks of the batch (axis 1 of every
    input), in order. `graph` (a Graph, a tuple of them, or None) goes to every worker once. `fn` must be picklable (a module-level function or a partial of one);
    its results are joined along `batch_axis`, where `instances` N > 1 means that axis holds
    N instance-major groups of the chunk's samples."""
    xs = {k: np.asarray(v) for k, v in inputs.items()}
    total = _batch(xs)
    bounds = _chunks(total, batch_size, workers)
    progress.update(total=total)
    tasks = [({k: v[:, a:b] for k, v in xs.items()}, (a, total)) for a, b in bounds]
    if ray is not None:
        results = _on_ray(fn, graph, tasks, ray, progress)
    elif workers > 1 and len(tasks) > 1:
        results = _on_processes(fn, graph, tasks, workers, progress)
    else:
        results = []
        for chunk, window in tasks:
            results.append(fn(graph, chunk, window))
            progress.advance(_batch(chunk))
    return _join(results, batch_axis, instances)


def _batch(xs: Mapping[str, np.ndarray]) -> int:
    sizes = {v.shape[1] for v in xs.values() if v.ndim >= 2}
    if len(sizes) != 1:
        raise SimulationError(f"inputs must share one batch size on axis 1, got {sorted(sizes)}")
    return sizes.pop()


def _chunks(total: int, batch_size: int | None, workers: int) -> list[tuple[int, int]]:
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise UsageError(f"workers must be an integer >= 1, got {workers!r}")
    if batch_size is None:
        batch_size = max(1, -(-total // workers))
    elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UsageError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return [(a, min(a + int(batch_size), total)) for a in range(0, total, int(batch_size))] or [(0, 0)]


# -- workers -----------------------------------------------------------------------------------
_WORKER: dict = {}          # in a worker process only: the graph it was started with


def _init_worker(packed) -> None:
    _WORKER["graph"] = unpack_graph(packed)


def _in_worker(fn, chunk, window):
    return shipping.pack(fn(_WORKER["graph"], shipping.unpack(chunk), window))


def _on_processes(fn, graph, tasks, workers, progress):
    """The tasks over this process and workers − 1 others: the others take chunks from the end
    (up to two each in hand) while they start, this process runs chunks from the front."""
    results = [None] * len(tasks)
    todo = list(range(len(tasks)))
    others = min(workers - 1, len(tasks) - 1)
    threads = max(1, (os.cpu_count() or 1) // workers)          # N processes share the cores: no oversubscription
    with _blas_threads(threads), _child_blas_threads(threads), \
            futures.ProcessPoolExecutor(max_workers=others, mp_context=_context(fn), initializer=_init_worker,
                                        initargs=(pack_graph(graph),)) as pool:
        held: dict[futures.Future, int] = {}

        def collect(done):
            for f in done:
                k = held.pop(f)
                results[k] = shipping.unpack(f.result())
                progress.advance(_batch(tasks[k][0]))
            while len(todo) > 1 and len(held) < 2 * others:
                k = todo.pop()
                held[pool.submit(_in_worker, fn, shipping.pack(tasks[k][0]), tasks[k][1])] = k

        collect(())
        while todo or held:
            if todo:
                k = todo.pop(0)
                results[k] = fn(graph, *tasks[k])
                progress.advance(_batch(tasks[k][0]))
                collect([f for f in held if f.done()])
            else:
                collect(futures.wait(held, return_when=futures.FIRST_COMPLETED).done)
    return results


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _blas_threads(n: int):
    """This process's BLAS/OpenMP pools limited to n threads (where threadpoolctl is installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(n):
        yield


@contextlib.contextmanager
def _child_blas_threads(n: int):
    """Processes started meanwhile (the forkserver, when it starts now, and so its workers) read n
    from the environment when their BLAS loads."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: str(n) for k in _THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _context(fn):
    """Worker processes start from a forkserver (not by forking this process, whose BLAS, torch or
    JAX threads a plain fork can deadlock); spawn where there is no forkserver. The server
    imports nothing but a calling script's `__main__` when `fn` lives there: this process waits
    for the server to start, while each worker imports what it runs after its fork, beside
    this process's first chunk."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__"] if getattr(getattr(fn, "func", fn), "__module__", "") == "__main__"
                               else [])
    return ctx


def _on_ray(fn, graph, tasks, address, progress):
    try:
        import ray
    except ImportError:
        raise UsageError("running on Ray needs the 'ray' package (pip install 'snnc[parallel]')") from None
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    remote = ray.remote(_on_ray_worker)
    graph_ref = ray.put(pack_graph(graph))
    refs = [remote.remote(fn, graph_ref, chunk, window) for chunk, window in tasks]
    index = {r: k for k, r in enumerate(refs)}
    results, waiting = [None] * len(refs), list(refs)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        k = index[done[0]]
        results[k] = ray.get(done[0])
        progress.advance(_batch(tasks[k][0]))
    return results


def _on_ray_worker(fn, packed, chunk, window):
    return fn(unpack_graph(packed), chunk, window)


# -- the graph across processes ------------------------------------------------------------------
def pack_graph(graph) -> bytes | None:
    """`graph` (or a tuple of graphs) as bytes for another process: its attributes without the
    cached ones, pickled with read-only mappings (which pickle refuses) as rebuilt dicts."""
    if graph is None:
        return None
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: lambda m: (_read_only, (dict(m),))}
    pickler.dump(_attributes(graph))
    return buf.getvalue()


def unpack_graph(data: bytes | None):
    """The graph (or tuple of graphs) `pack_graph` packed."""
    return None if data is None else _rebuild(pickle.loads(data))


def _read_only(d: dict) -> MappingProxyType:
    return MappingProxyType(d)


def _attributes(graph):
    if isinstance(graph, tuple):
        return tuple(_attributes(g) for g in graph)
    cached = {k for k, v in vars(type(graph)).items() if isinstance(v, functools.cached_property)}
    return {k: v for k, v in vars(graph).items() if k not in cached}


def _rebuild(state):
    if isinstance(state, tuple):
        return tuple(_rebuild(s) for s in state)
    graph = Graph.__new__(Graph)
    graph.__dict__.update(state)
    return graph


# -- joining ------------------------------------------------------------------------------------
def _join(results: list, axis: int, instances: int):
    """Concatenate chunk results along the batch axis, structure by structure."""
    first = results[0]
    if isinstance(first, np.ndarray):
        if instances <= 1:
            return np.concatenate(results, axis=axis)
        split = [r.reshape(*r.shape[:axis], instances, r.shape[axis] // instances, *r.shape[axis + 1:])
                 for r in results]
        joined = np.concatenate(split, axis=axis + 1)
        return joined.reshape(*joined.shape[:axis], -1, *joined.shape[axis + 2:])
    if isinstance(first, dict):
        return {k: _join([r[k] for r in results], axis, instances) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_join(list(parts), axis, instances) for parts in zip(*results))
    if dataclasses.is_dataclass(first):
        return dataclasses.replace(first, **{f.name: _join([getattr(r, f.name) for r in results], axis, instances)
                                             for f in dataclasses.fields(first)})
    if all(r == first for r in results):
        return first
    raise SimulationError(f"cannot join chunk results of type {type(first).__name__}")
