"""Re-rolling a time-unrolled graph: T copies of one tick back into one stateful tick.

A traced Python time loop (`for t in range(T): ... x[t] ...`) exports as T copies of the
same nodes, each fed by Gather(x, t) (or a Split of x along time). Reading it back:

1. anchors: the per-tick inputs x[t] (Gather with a constant index on axis 0 of a graph
   input, or Split + Squeeze along axis 0);
2. outputs: every kept graph output must stack the ticks (Concat of Unsqueeze(y_t, 0), or
   ConcatFromSequence of a SequenceConstruct, as torch.stack exports);
3. ticks: each node goes to the latest tick it can (its earliest consumer's), never before
   the latest x[t] it depends on. So `β·mem[t−1]` belongs to tick t, and a value one tick
   reads from the tick before is a state;
4. the template is the first tick s from which every tick reads the same values from the
   tick before (usually s = 1: the exporter folds the zero initial state into tick 0's
   constants, which can also make tick 1 read less). Its states are the values it reads
   from tick s−1, labelled by where they are read (node position, input slot); each
   state's end-of-tick value is the tick-s value that tick s+1 reads at the same place;
5. checks, symbolically: every tick after s must compute what tick s computes (same layer
   parameters, same outputs, same next state), else an error names the tick and the
   node; the ticks before s (the prologue), evaluated together, must equal the template
   run for s ticks from zero state: same outputs every tick, same values handed to tick s.
"""
from __future__ import annotations

import numpy as np
import onnx

from snnc.frontends.dynamics import Context, Poly, StepBuilder, StepFunction, close, evaluate
from snnc.frontends.onnx.common import GraphInfo
from snnc.frontends.onnx.translate import Translator, attrs

MIN_TICKS = 3


def find_anchors(info: GraphInfo) -> dict[str, tuple[str, int]]:
    """{value name: (time-major input, tick)} for every x[t] the graph takes."""
    time_inputs = {i.name for i in info.inputs()}
    anchors, parts = {}, {}
    for n in info.live:
        if not n.input or n.input[0] not in time_inputs and n.input[0] not in parts:
            continue
        a = attrs(n)
        if n.op_type == "Gather" and a.get("axis", 0) == 0:
            idx = info.consts.get(n.input[1])
            if idx is not None and np.ndim(idx) == 0:
                anchors[n.output[0]] = (n.input[0], int(idx))
        elif n.op_type == "Split" and a.get("axis", 0) == 0 and _unit_split(info, n):
            parts.update({o: (n.input[0], i) for i, o in enumerate(n.output)})
        elif n.op_type == "Squeeze" and n.input[0] in parts and _axes(info, n) == [0]:
            anchors[n.output[0]] = parts[n.input[0]]
    return anchors


def _unit_split(info: GraphInfo, n: onnx.NodeProto) -> bool:
    split = info.consts.get(n.input[1]) if len(n.input) > 1 and n.input[1] else attrs(n).get("split")
    if split is not None:
        return all(int(s) == 1 for s in np.ravel(split))
    shape = info.shape(n.input[0])
    return bool(shape) and shape[0] == len(n.output)


def _axes(info: GraphInfo, n: onnx.NodeProto) -> list[int] | None:
    axes = info.consts.get(n.input[1]) if len(n.input) > 1 and n.input[1] else attrs(n).get("axes")
    return None if axes is None else [int(a) for a in np.ravel(axes)]


class _Unrolled:
    def __init__(self, info: GraphInfo, outputs: tuple[str, ...] | None):
        self.info = info
        self.anchors = find_anchors(info)
        self.T = self._ticks()
        self.collected, structural, self.pinned = self._collect(outputs)
        structural |= {id(info.producer[a]) for a in self.anchors}
        structural |= {id(n) for n in info.live if n.op_type == "Split" and n.output[0] in
                       {o for a in self.anchors for o in info.producer[a].input}}
        self.nodes = [n for n in info.live if id(n) not in structural]
        self.tick_of = self._assign()
        self.ticks = [[n for n in self.nodes if self.tick_of[n.output[0]] == t] for t in range(self.T)]
        self.labels = [self._labels(t) for t in range(self.T)]
        self.start = self._start()
        self.ctx = Context(info.source)

    # -- structure ------------------------------------------------------------------------------
    def _ticks(self) -> int:
        by_input: dict[str, set[int]] = {}
        for x, t in self.anchors.values():
            by_input.setdefault(x, set()).add(t)
        ticks = set.union(*by_input.values())
        T = max(ticks) + 1
        for x, ts in by_input.items():
            shape = self.info.shape(x)
            length = shape[0] if shape and shape[0] is not None else T
            if ts != set(range(length)):
                missing = sorted(set(range(length)) - ts)
                raise self.info.refuse(None, f"input '{x}' has {length} ticks but the model never reads "
                                             f"x[{missing[0]}]; an unrolled model reads every tick of its input")
        if T < MIN_TICKS:
            raise self.info.refuse(None, f"the model is unrolled over {T} ticks; re-rolling needs at least "
                                         f"{MIN_TICKS} (export with a longer input)")
        return T

    def _collect(self, keep) -> tuple[dict[str, list[str]], set[int], dict[str, int]]:
        """{output: [y_0, ..., y_{T-1}]} for the kept outputs, the nodes that stack them, and
        {y_t: t} for every stacked value (an output of tick t must be computed in tick t)."""
        info, collected, structural, pinned = self.info, {}, set(), {}
        for out in info.graph.output:
            p = info.producer.get(out.name)
            ys, nodes = self._stacked(p) if p is not None else (None, [])
            if ys is not None and len(ys) == self.T:
                structural |= {id(n) for n in nodes}
                pinned.update({y: t for t, y in enumerate(ys)})
            if keep is not None and out.name not in keep:
                continue
            if ys is None or len(ys) != self.T:
                raise info.refuse(p, f"output '{out.name}' does not stack one value per tick; snnc outputs every "
                                     f"tick: return torch.stack([...]) of the {self.T} per-tick values")
            collected[out.name] = ys
        return collected, structural, pinned

    def _stacked(self, p: onnx.NodeProto) -> tuple[list[str] | None, list[onnx.NodeProto]]:
        info = self.info
        if p.op_type == "Concat" and attrs(p).get("axis") == 0:
            ys, nodes = [], [p]
            for part in p.input:
                q = info.producer.get(part)
                if q is None or q.op_type != "Unsqueeze" or _axes(info, q) != [0]:
                    return None, []
                ys.append(q.input[0])
                nodes.append(q)
            return ys, nodes
        if p.op_type == "ConcatFromSequence" and attrs(p).get("new_axis") == 1 and attrs(p).get("axis") == 0:
            q = info.producer.get(p.input[0])
            if q is not None and q.op_type == "SequenceConstruct":
                return list(q.input), [p, q]
        return None, []

    def _assign(self) -> dict[str, int]:
        """Tick of every value: as late as its consumers allow, never before its inputs."""
        info, tick = self.info, {a: t for a, (_, t) in self.anchors.items()}
        time_inputs = {x for x, _ in self.anchors.values()}
        for n in self.nodes:
            if any(i in time_inputs for i in n.input):
                raise info.refuse(n, "reads the whole time series, not one tick of it")
            ts = [tick[i] for i in n.input if i in tick]
            if not ts:
                raise info.refuse(n, "depends on no tick's input and is not a constant")
            for o in n.output:
                tick[o] = max(ts)
        consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in self.nodes:
            for i in n.input:
                consumers.setdefault(i, []).append(n)
        for n in reversed(self.nodes):
            later = [tick[c.output[0]] for o in n.output for c in consumers.get(o, ())]
            later += [self.pinned[o] for o in n.output if o in self.pinned]
            if later:
                for o in n.output:
                    tick[o] = min(later)
        for name, ys in self.collected.items():
            for t, y in enumerate(ys):
                if tick.get(y) != t:
                    raise info.refuse(info.producer.get(y), f"output '{name}' stacks a value of tick "
                                                            f"{tick.get(y)} as tick {t}")
        return tick

    def _labels(self, t: int) -> dict[str, str]:
        """{value of tick t−1 read in tick t: label}, the label being where it is first read."""
        labels = {}
        for pos, n in enumerate(self.ticks[t]):
            for slot, name in enumerate(n.input):
                if name not in self.tick_of or self.tick_of[name] == t or name in labels:
                    continue
                if self.tick_of[name] != t - 1:
                    raise self.info.refuse(n, f"tick {t} reads a value of tick {self.tick_of[name]}; snnc "
                                              f"re-rolls ticks that read only the tick before")
                labels[name] = f"s{pos}_{slot}"
        return labels

    def _start(self) -> int:
        """The first tick from which every tick reads the same values from the tick before."""
        sets = [set(labels.values()) for labels in self.labels]
        start = next(s for s in range(1, self.T) if all(sets[t] == sets[s] for t in range(s, self.T)))
        if self.T - start < 2:
            t = self.T - 1
            raise self.info.refuse(self.ticks[t][0] if self.ticks[t] else None,
                                   f"tick {t} reads other values of the tick before than tick {t - 1} does; "
                                   f"the model does not repeat one computation every tick")
        return start

    # -- one tick as a step ---------------------------------------------------------------------
    def step(self, t: int) -> tuple[StepFunction, dict[str, int], dict[str, int]]:
        """Tick t as a StepFunction, with its output values and end-of-tick state values."""
        info, b = self.info, StepBuilder()
        tr = Translator(b, info.consts, info.source, info.uses)
        inputs: dict[str, int] = {}
        for a, (x, tick) in self.anchors.items():
            if tick == t:
                if x not in inputs:
                    inputs[x] = b.input(x, info.per_sample(x, 2), origin=x)
                tr.bind(a, inputs[x])
        for name, label in self.labels[t].items():
            tr.bind(name, b.state(label, origin=name))
        for n in self.ticks[t]:
            tr.translate(n)
        outs = {name: tr.value(ys[t]) for name, ys in self.collected.items()}
        for name, idx in outs.items():
            b.output(name, idx)
        ends = {}
        if t + 1 < self.T:
            ends = {label: tr.value(name) for name, label in self.labels[t + 1].items()}
            for label, idx in ends.items():
                if label in self.labels[t].values():
                    b.state_out(label, idx)
        return b.build(complete=False), outs, ends

    def template(self) -> StepFunction:
        step, _, _ = self.step(self.start)
        return step

    # -- checks ---------------------------------------------------------------------------------
    def check(self) -> None:
        ctx, s = self.ctx, self.start
        ref, ref_outs, ref_ends = self.step(s)
        ref_polys = evaluate(ref, ctx)
        for t in range(s + 1, self.T):
            step, outs, ends = self.step(t)
            polys = evaluate(step, ctx)
            self._same_layers(t, step, polys, ref, ref_polys)
            self._same_values(f"tick {t} differs from tick {s}", step, polys, outs, ends, ref, ref_polys,
                              ref_outs, ref_ends)
        self._check_prologue(ctx, ref, ref_outs, ref_ends)

    def _check_prologue(self, ctx: Context, ref, ref_outs, ref_ends) -> None:
        """Ticks 0..s−1 together must be the template run s times from zero state."""
        s, info, b = self.start, self.info, StepBuilder()
        tr = Translator(b, info.consts, info.source, info.uses)
        for a, (x, t) in self.anchors.items():
            if t < s:
                tr.bind(a, b.input(f"{x}@{t}", info.per_sample(x, 2), origin=x))
        for t in range(s):
            for n in self.ticks[t]:
                tr.translate(n)
        prologue = b.build(complete=False)
        polys = evaluate(prologue, ctx)
        states = {label: Poly() for label in self.labels[s].values()}
        xs = {x for x, _ in self.anchors.values()}
        for t in range(s):
            run = evaluate(ref, ctx, states=states, inputs={x: Poly.var(("in", f"{x}@{t}")) for x in xs})
            for name, ys in self.collected.items():
                self._same(tr.value(ys[t]), prologue, polys, ref_outs[name], ref, run,
                           f"tick {t} is not tick {s} run from zero state (snnc states start at zero)",
                           f"output '{name}'")
            states = {label: run[idx] for label, idx in ref_ends.items()}
        for name, label in self.labels[s].items():
            self._same(tr.value(name), prologue, polys, ref.state(label).value_in, ref, None,
                       f"the first {s} tick(s) are not tick {s} run from zero state (snnc states start "
                       f"at zero)", "the state handed on", expect=states[label])

    def _same_layers(self, t, step, polys, ref, ref_polys) -> None:
        mine = [(v, polys[v.index]) for v in step.values if v.op is not None]
        theirs = [(v, ref_polys[v.index]) for v in ref.values if v.op is not None]
        for (v, p), (w, q) in zip(mine, theirs):
            if self.ctx.canonical(p).key() != self.ctx.canonical(q).key():
                what = "with other parameters" if not (type(v.op) is type(w.op) and v.op == w.op) else "to another input"
                raise self.info.refuse(v.origin,
                                       f"tick {t} differs from tick {self.start}: it applies {v.op.name} {what} "
                                       f"than node "
                                       f"'{w.origin}'; an unrolled model must repeat one computation every tick")

    def _same_values(self, why, step, polys, outs, ends, ref, ref_polys, ref_outs, ref_ends) -> None:
        for k in ref_outs:
            self._same(outs[k], step, polys, ref_outs[k], ref, ref_polys, why, f"output '{k}'")
        for k in ref_ends:
            if k in ends:
                self._same(ends[k], step, polys, ref_ends[k], ref, ref_polys, why, "the state it passes on")

    def _same(self, mine, step, polys, theirs, ref, ref_polys, why, what, expect=None) -> None:
        want = expect if expect is not None else ref_polys[theirs]
        if not close(polys[mine], want, ctx=self.ctx):
            raise self.info.refuse(step.values[mine].origin,
                                   f"{why}: {what} differs from node '{ref.values[theirs].origin}'")


def read(info: GraphInfo, outputs: tuple[str, ...] | None) -> tuple[StepFunction, int]:
    """The re-rolled tick of an unrolled graph and the tick it was read from (raises if the
    ticks are not copies of one computation)."""
    unrolled = _Unrolled(info, outputs)
    unrolled.check()
    return unrolled.template(), unrolled.start
