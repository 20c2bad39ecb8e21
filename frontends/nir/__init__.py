"""NIR (Neuromorphic Intermediate Representation) files and objects, read and written.

Files are written with the `nir` package's writer (`nir.write`) and read with its reader
functions (`hdf2dict`, `dict2NIRNode`) on a file snnc opened and checked first
(`snnc.safeio`): an external link, soft link, virtual dataset or dataset stored in another
file is refused, and so is a file declaring more array elements than `max_elements`
(default `snnc.safeio.MAX_ELEMENTS`) or far more bytes than it stores. A live
`nir.NIRGraph` (or a lone NIR node) loads too.

Reading (`load`)
----------------
- Node types: all 18 NIR primitives (Input, Output, Affine, Linear, Scale, Conv1d, Conv2d,
  SumPool2d, AvgPool2d, Flatten, Delay, Threshold, I, LI, IF, LIF, CubaLI, CubaLIF) map to
  the `snn.*` op of the same meaning and field names; nested NIRGraphs are flattened.
  Anything else (Identity, a node type from a newer NIR, an Affine with batched ≥3-D
  weights, 'same' padding that needs uneven sides) raises `UnsupportedOpError` naming the
  NIR key, its type and the supported types.
- Files: read unchecked first; a file snnc wrote is used as is, any other is read again
  with NIR's type checking (which adds Input/Output nodes at loose ends, as NIR means) and,
  when that fails (legacy files: scalar parameters, batch axes in shapes), kept unchecked.
  A file that is not HDF5, has no NIR graph or that nir cannot read raises
  `MalformedInputError` naming the file.
- Nested graphs: inner nodes are named by their key path, ``outer.inner``, and keep it as
  their `origin`. A subgraph's Input and Output nodes are spliced out: an edge into the
  subgraph feeds what its Input feeds, what feeds its Output feeds the edge out.
- Names: keys with characters the IR cannot spell get '_' instead; clashes get ``_1``...
  `origin` is always the NIR key path itself.
- Fan-in adds: several edges into one node are summed (as nirtorch does).
- Recurrence: NIR executes feedback with a one-tick delay. The rule: (1) depth-first
  search from the Input nodes (then any node not yet reached, in node order), taking each
  node's out-edges in edge order; an edge to a node still on the search stack closes a
  cycle and becomes `recurrent=True`; (2) a recurrent edge leaving a stateless node with
  exactly one in-edge and one out-edge moves back onto that in-edge, repeatedly, so the
  delay sits on the spikes leaving the neuron. In an snnTorch RLeaky subgraph
  {input → lif → w_rec → lif} the edge lif → w_rec is recurrent and w_rec computes
  W·z[t−1] + b within tick t, exactly as snnTorch's RLeaky does. nirtorch delays the
  edge w_rec → lif instead, which differs only at tick 0 (0 instead of b); moving the
  delay never opens a same-tick cycle, since every cycle through the old edge passes
  the new one.
- Parameters: scalar (0-d or 1-element) neuron, Threshold, Scale and Delay parameters are
  broadcast to the shape arriving at the node; missing v_reset is zero (nir's default).
  A NaN or infinite parameter is refused, naming the node and the field.
- Provenance: NIR stores neither dt nor a reset rule, but exporters leave fingerprints
  (`_provenance.py` lists them: snnTorch, sinabs, Norse, Spyx). A file that shows which
  framework wrote it is read with that framework's dt and reset rule (snnTorch: dt 1e-4,
  reset by subtraction at the next step, as its default `Leaky` runs); every value assumed
  (dt, method, reset rule) is announced once as a `snnc.errors.Guess` saying what, from
  where, and the option that overrides it.
- Otherwise neurons mean what NIR says: reset to `v_reset`, immediately (`reset_mode="value"`,
  `reset_timing="immediate"`), no refractory period, binary spikes. CubaLI/CubaLIF use
  `current_timing="same_tick"`: the membrane integrates this tick's current, which is how
  snnTorch `Synaptic` and Norse `LIFCell` (the frameworks that write CubaLIF) simulate and
  what the NIR composition CubaLIF = LI ; LIF means when snnc runs LI then LIF in one tick.
  NIR's forward-Euler reference script uses the previous tick's current instead: pass
  ``current_timing="next_tick"`` for that. `reset_mode`, `reset_timing` and
  `current_timing` options override every neuron that has the field.
- Flatten: NIR's own type inference (and snnTorch's, Sinabs' and Norse's exporters) index
  `start_dim`/`end_dim` in the per-sample shape, as snnc does; only NIR's *default*
  ``start_dim=1`` was copied from torch's batch-axis convention. So dims are kept as
  written; ``flatten_dims="batch"`` reads them as torch dims that count a batch axis
  (subtracting 1 from non-negative dims), for files written that way.
- Conv padding 'valid' becomes 0 and 'same' becomes d·(k−1)/2 per side (stride 1 only).
- dt (NIR stores none) comes from, in order: the `dt` option; the dt snnc wrote into the
  file's metadata; the unit-gain convention r = τ/dt that snnTorch uses (τ/r equal on
  every LIF/LI/CubaLIF/CubaLI to 1e-5 with r > 1, rounded to 6 significant digits:
  snnTorch files give dt = 1e-4); else 1e-3 s, snnc's default dt and Norse's and Rockpool's
  import default. When dt was not given or stored, graph metadata ``dt_source`` says which.
  `method` comes from the option, the file's snnc metadata, else "euler" (NIR's reference
  discretisation, and snnTorch's β = 1 − dt/τ).

Writing (`save`)
----------------
One flat NIRGraph whose keys are the snnc node names, written with `nir.write` (gzip, or
uncompressed when a 0-d array would make HDF5 refuse it). Every `snn.*` op becomes the NIR
node of the same name; `snn.sparse_linear` becomes a dense Affine (what other tools read).
Metadata carries what NIR cannot say, as flat ``snnc.*`` keys holding strings, numbers and
(for sparse matrices) int/float arrays -- the value kinds nir.write stores as plain
datasets and nir.read returns:

- every node: ``snnc.op`` (the op name, which tells a dense Affine from a SparseLinear),
  ``snnc.origin``, and each op field NIR has no slot for as ``snnc.<field>``
  (`reset_mode`, `reset_timing`, `current_timing` as strings; `t_refrac` as a number;
  `graded` as 0/1; a SparseLinear's `indptr`, `indices`, `data` arrays and `n_in`);
- the graph: ``snnc.format`` = "1" (marks a snnc-written file), ``snnc.dt``,
  ``snnc.method``, ``snnc.ir_version``, and as JSON strings ``snnc.inputs`` and
  ``snnc.outputs`` (their order), ``snnc.edges`` (every edge with ports and recurrent
  flag, duplicates included: NIR keeps only unique (src, dst) pairs) and
  ``snnc.metadata`` (the graph's own annotations).

So snnc → NIR → snnc gives back an equal Graph. On reading, metadata is trusted only
where it still agrees with the NIR content (edges must match NIR's edge set; CSR arrays
must reproduce the dense weight), so a file edited by another tool keeps NIR's meaning.
"""
from __future__ import annotations

import math

from snnc.errors import UsageError
from snnc.ir.graph import METHODS, Graph
from snnc.ir.snn.neuron import CURRENT_TIMINGS, RESET_MODES, RESET_TIMINGS
from snnc.safeio import Limits

from ._mapping import SUPPORTED
from ._reader import DEFAULT_DT, Options, read_graph
from ._writer import to_nir, write_graph

__all__ = ["load", "save", "to_nir", "SUPPORTED", "DEFAULT_DT"]

FLATTEN_DIMS = ("sample", "batch")


def load(source, *, dt: float | None = None, method: str | None = None, reset_mode: str | None = None,
         reset_timing: str | None = None, current_timing: str | None = None,
         flatten_dims: str | None = None, max_elements: int | None = None, max_expansion: float | None = None,
         **unknown) -> Graph:
    """Read a NIR file (path) or a live `nir.NIRGraph` into a verified `snn.*` Graph.

    `dt` (seconds) and `method` ("euler" or "exact") set the discretisation; `reset_mode`,
    `reset_timing` and `current_timing` override the neurons' semantics (NIR's, or those of
    the framework the file shows it came from); `flatten_dims` says how Flatten dims count
    ("sample": per-sample axes, the default; "batch": torch-style, the default for files
    sinabs wrote); `max_elements` and `max_expansion`
    raise the limits of `snnc.safeio` on what the file may declare.
    """
    if unknown:
        raise UsageError(f"nir.load: unknown option(s) {', '.join(sorted(unknown))} (known: dt, method, "
                         f"reset_mode, reset_timing, current_timing, flatten_dims, max_elements, max_expansion)")
    if dt is not None and (isinstance(dt, bool) or not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0)):
        raise UsageError(f"nir.load: dt must be a positive number of seconds, got {dt!r}")
    for name, value, allowed in (("method", method, METHODS), ("reset_mode", reset_mode, RESET_MODES),
                                 ("reset_timing", reset_timing, RESET_TIMINGS),
                                 ("current_timing", current_timing, CURRENT_TIMINGS),
                                 ("flatten_dims", flatten_dims, FLATTEN_DIMS)):
        if value is not None and value not in allowed:
            raise UsageError(f"nir.load: {name} must be one of {', '.join(allowed)}, got {value!r}")
    overrides = tuple((k, v) for k, v in (("reset_mode", reset_mode), ("reset_timing", reset_timing),
                                          ("current_timing", current_timing)) if v is not None)
    opts = Options(dt=None if dt is None else float(dt), method=method, overrides=overrides,
                   flatten_dims=flatten_dims, user_fields=tuple(k for k, _ in overrides),
                   limits=Limits.from_options(max_elements, max_expansion, who="nir.load"))
    return read_graph(source, opts)


def save(graph: Graph, path, **options) -> None:
    """Write `graph` (source dialect) to a NIR file at `path`; snnc's extra meaning goes into metadata."""
    if options:
        raise UsageError(f"{path}: .nir files take no save options (got {', '.join(sorted(options))})")
    write_graph(graph, path)
