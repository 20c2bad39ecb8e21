"""Time loops: an ONNX Loop or Scan whose body is one tick.

Loop (torch.jit.script + the legacy exporter):
    Loop(M, cond, v_0..., seq_0...) with body (i, cond, v..., seq...) -> (cond, v'..., seq'..., y...)
  - x[t] is Gather(x, i) of a time-major graph input x inside the body;
  - tensor loop-carried values are the states; they must start at zero (their initial
    values must fold to zeros, e.g. ConstantOfShape(0));
  - per-tick outputs are either collected with SequenceInsert into a carried sequence that
    starts as SequenceEmpty and is stacked after the loop by ConcatFromSequence(axis=0,
    new_axis=1), or are the body's scan outputs (stacked by Loop itself);
  - the loop must not stop early: the body's condition is its input condition or true.
Scan (torch's scan higher-order op + the dynamo exporter):
    Scan(v_0..., x...) with body (v..., x_t...) -> (v'..., y...)
  - scan inputs are time-major graph inputs, scanned forward along axis 0; scan outputs are
    stacked forward along axis 0; states start at zero as above.
The trip count is not read: snnc runs as many ticks as the input has.
"""
from __future__ import annotations

import numpy as np
import onnx

from snnc.frontends.dynamics import StepBuilder, StepFunction
from snnc.frontends.onnx.common import GraphInfo
from snnc.frontends.onnx.translate import Translator, attrs


def read(info: GraphInfo, outputs: tuple[str, ...] | None) -> StepFunction:
    loops = [n for n in info.live if n.op_type in ("Loop", "Scan")]
    if len(loops) != 1:
        raise info.refuse(loops[1], "a second time loop; snnc reads models with one Loop or Scan over time")
    node = loops[0]
    body = GraphInfo.read(attrs(node)["body"], info.source, outer=info.consts)
    body.check_ops()
    reader = _LoopReader(info, node, body) if node.op_type == "Loop" else _ScanReader(info, node, body)
    return reader.read(outputs)


class _Reader:
    def __init__(self, info: GraphInfo, node: onnx.NodeProto, body: GraphInfo):
        self.info, self.node, self.body = info, node, body
        self.b = StepBuilder()
        self.tr = Translator(self.b, body.consts, info.source, body.uses)
        self.per_tick: dict[str, str] = {}      # graph output -> body value it stacks
        self.skip: set[int] = set()             # body nodes the reader handles itself

    def zero_state(self, name: str, initial: str) -> None:
        value = self.info.consts.get(initial)
        if value is None or np.any(np.asarray(value) != 0):
            raise self.info.refuse(self.node, f"state '{name}' starts from '{initial}', which is not a constant "
                                              f"zero; snnc states start at zero")

    def time_input(self, name: str) -> str:
        if name not in {i.name for i in self.info.inputs()}:
            raise self.info.refuse(self.node, f"loops over '{name}', which is not a model input")
        return name

    def translate_body(self) -> None:
        for n in self.body.live:
            if id(n) not in self.skip:
                self.tr.translate(n)

    def outside(self, allowed: set[int]) -> None:
        for n in self.info.live:
            if id(n) not in allowed and n is not self.node:
                used = [o for o in n.output if o in self.loop_outputs]
                if used or any(i in self.loop_outputs for i in n.input):
                    raise self.info.refuse(n, "computes with the loop's results; snnc reads only the "
                                              "per-tick outputs the loop stacks")

    @property
    def loop_outputs(self) -> set[str]:
        return set(self.node.output)

    def finish(self, outputs) -> StepFunction:
        for out in self.info.graph.output:
            if outputs is not None and out.name not in outputs:
                continue
            if out.name not in self.per_tick:
                raise self.info.refuse(self.info.producer.get(out.name),
                                       f"output '{out.name}' is not a per-tick output of the loop (a final "
                                       f"state?); snnc outputs every tick")
            self.b.output(out.name, self.tr.value(self.per_tick[out.name]))
        return self.b.build()


class _LoopReader(_Reader):
    def read(self, outputs) -> StepFunction:
        node, body, info = self.node, self.body, self.info
        b_in = [i.name for i in body.graph.input]
        b_out = [o.name for o in body.graph.output]
        n_carried = len(node.input) - 2
        if not self._runs_to_end(b_in[1], b_out[0]):
            raise info.refuse(node, "a loop that can stop early; snnc reads loops that run every tick")
        self.seq_values: dict[str, str] = {}     # loop output -> the body value appended every tick
        states = []
        for k in range(n_carried):
            initial, name = node.input[2 + k], b_in[2 + k]
            producer = info.producer.get(initial)
            if producer is not None and producer.op_type == "SequenceEmpty":
                self._sequence(k, name, b_out[1 + k])
            else:
                self.zero_state(name, initial)
                self.tr.bind(name, self.b.state(name, origin=name))
                states.append((name, b_out[1 + k]))
        self._anchors(b_in[0])
        self.translate_body()
        for name, out in states:
            self.b.state_out(name, self.tr.value(out))
        for j, y in enumerate(b_out[1 + n_carried:]):          # scan outputs: stacked by Loop itself
            self._stacked(node.output[n_carried + j], y)
        self.outside(self._concats())
        return self.finish(outputs)

    def _runs_to_end(self, cond_in: str, cond_out: str) -> bool:
        """The loop's condition is true and stays true (trip count alone ends the loop)."""
        node = self.node
        start = self.info.consts.get(node.input[1]) if len(node.input) > 1 and node.input[1] else np.True_
        if start is None or not bool(np.all(start)):
            return False
        value = self.body.consts.get(cond_out)
        if cond_out == cond_in or (value is not None and bool(np.all(value))):
            return True
        p = self.body.producer.get(cond_out)
        if p is not None and p.op_type == "Identity" and p.input[0] == cond_in:
            self.skip.add(id(p))
            return True
        return False

    def _sequence(self, k: int, seq_in: str, seq_out: str) -> None:
        """A carried sequence: SequenceInsert(seq_in, y) at the end collects y every tick."""
        p = self.body.producer.get(seq_out)
        if p is None or p.op_type != "SequenceInsert" or p.input[0] != seq_in or (len(p.input) > 2 and p.input[2]):
            raise self.info.refuse(self.node, f"the carried sequence '{seq_in}' is not filled by appending "
                                              f"one value per tick (SequenceInsert)")
        self.skip.add(id(p))
        self.seq_values[self.node.output[k]] = p.input[1]

    def _concats(self) -> set[int]:
        """The ConcatFromSequence nodes that stack a collected sequence into [T, ...] outputs."""
        allowed = set()
        for n in self.info.live:
            if n.op_type == "ConcatFromSequence" and n.input[0] in self.seq_values:
                a = attrs(n)
                if a.get("axis", 0) != 0 or a.get("new_axis", 0) != 1:
                    raise self.info.refuse(n, "stacks the ticks on another axis than a new leading one")
                self._stacked(n.output[0], self.seq_values[n.input[0]])
                allowed.add(id(n))
        return allowed

    def _stacked(self, stacked: str, body_value: str) -> None:
        if stacked in {o.name for o in self.info.graph.output}:
            self.per_tick[stacked] = body_value

    def _anchors(self, iteration: str) -> None:
        """x[t] = Gather(x, t) of a time-major model input; no other use of t."""
        inputs: dict[str, int] = {}
        for n in self.body.live:
            if iteration not in n.input:
                continue
            if n.op_type == "Gather" and n.input[1] == iteration and attrs(n).get("axis", 0) == 0:
                x = self.time_input(n.input[0])
                if x not in inputs:
                    inputs[x] = self.b.input(x, self.info.per_sample(x, 2), origin=x)
                self.tr.bind(n.output[0], inputs[x])
                self.skip.add(id(n))
            else:
                raise self.body.refuse(n, "computes with the iteration number; snnc reads x[t] = Gather(x, t) only")


class _ScanReader(_Reader):
    def read(self, outputs) -> StepFunction:
        node, body, info = self.node, self.body, self.info
        a = attrs(node)
        n_scan = a["num_scan_inputs"]
        n_state = len(node.input) - n_scan
        for key in ("scan_input_axes", "scan_input_directions", "scan_output_axes", "scan_output_directions"):
            if any(int(v) != 0 for v in a.get(key, ())):
                raise info.refuse(node, f"{key}={list(a[key])}; snnc scans forward along axis 0")
        b_in = [i.name for i in body.graph.input]
        b_out = [o.name for o in body.graph.output]
        for k in range(n_state):
            self.zero_state(b_in[k], node.input[k])
            self.tr.bind(b_in[k], self.b.state(b_in[k], origin=b_in[k]))
        for j in range(n_scan):
            x = self.time_input(node.input[n_state + j])
            self.tr.bind(b_in[n_state + j], self.b.input(x, info.per_sample(x, 2), origin=x))
        self.translate_body()
        for k in range(n_state):
            self.b.state_out(b_in[k], self.tr.value(b_out[k]))
        for j, y in enumerate(b_out[n_state:]):
            for out in info.graph.output:
                if out.name == node.output[n_state + j]:
                    self.per_tick[out.name] = y
        self.outside(set())
        return self.finish(outputs)
