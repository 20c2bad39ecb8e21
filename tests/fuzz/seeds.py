"""Small valid models of every input kind, as bytes, for the mutation fuzzer.

Each seed is a `Case`: the files of one model (relative name -> bytes; the first is the
model file) that the current snnc loads. They are built by the tools users build them with:
the text printer, `nir.write`, `torch.onnx.export` of an snnTorch step and of a ReLU MLP,
and h5py in lava-dl's netx layout. Built once per process (`seeds()`).
"""
from __future__ import annotations

import functools
import io
import tempfile
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

KINDS = ("snnir", "snnir+npz", "nir", "onnx-step", "onnx-ann", "netx")
SECRET = b"outside-the-model:" + bytes(range(256)) * 4      # what files outside the model's folder hold


@dataclass(frozen=True)
class Case:
    kind: str
    files: dict = field(hash=False)          # relative name -> bytes; `model` among them
    model: str
    invalid: str = ""                        # why a reader must refuse it ("" when it may load)
    history: tuple[str, ...] = ()            # the mutations that made it, in order

    def with_file(self, name: str, data: bytes | None, what: str, invalid: str = "") -> Case:
        files = dict(self.files)
        if data is None:
            files.pop(name, None)
        else:
            files[name] = data
        return replace(self, files=files, invalid=self.invalid or invalid, history=self.history + (what,))

    def write(self, folder: Path) -> Path:
        """Write the files under `folder` (a name may start with ../ to lie outside it; content
        ``@symlink:TARGET`` makes a symbolic link to TARGET); returns the model's path."""
        for name, data in self.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if is_link(data):
                path.symlink_to(data[len(b"@symlink:"):].decode())
            else:
                path.write_bytes(data)
        return folder / self.model


def is_link(data: bytes) -> bool:
    """Whether a file's content stands for a symbolic link (``@symlink:TARGET``)."""
    return data.startswith(b"@symlink:") and data[9:].isascii() and b"\0" not in data


@functools.cache
def seeds() -> dict[str, tuple[Case, ...]]:
    """Every kind's seeds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"snnir": (_text(_lif_graph()), _text(_conv_graph())),
                "snnir+npz": (_text_with_sidecar(),),
                "nir": (_nir_plain(), _nir_snntorch_style(), _nir_snnc()),
                "onnx-step": (_onnx_step(),),
                "onnx-ann": (_onnx_ann(),),
                "netx": (_netx(),)}


# -- text IR -----------------------------------------------------------------------------------------
def _lif_graph():
    from snnc.ir import GraphBuilder, snn
    b = GraphBuilder(dt=1e-3, metadata={"source": "fuzz"})
    x = b.input("x", (4,))
    fc = b.add("fc", snn.Affine(weight=np.linspace(-1, 1, 12).reshape(3, 4), bias=np.array([0.1, 0.0, -0.2])), x)
    n = b.add("lif", snn.LIF(tau=np.full(3, 0.02), r=np.full(3, 20.0), v_leak=np.zeros(3),
                             v_threshold=np.ones(3), v_reset=np.zeros(3), reset_mode="subtract"), fc)
    rec = b.add("rec", snn.Linear(weight=np.eye(3) * 0.5), n)
    b.connect(rec, n, recurrent=True)
    b.output("y", n, (3,))
    return b.build()


def _conv_graph():
    from snnc.ir import GraphBuilder, snn
    b = GraphBuilder(dt=1e-3, method="exact")
    x = b.input("img", (1, 4, 4))
    c = b.add("conv", snn.Conv2d(weight=np.linspace(-1, 1, 18).reshape(2, 1, 3, 3), bias=np.zeros(2),
                                 stride=(1, 1), padding=(1, 1)), x)
    p = b.add("pool", snn.AvgPool2d(kernel_size=(2, 2), stride=(2, 2)), c)
    f = b.add("flat", snn.Flatten(start_dim=0, end_dim=-1), p)
    n = b.add("cuba", snn.CubaLIF(tau_syn=np.full(8, 5e-3), tau_mem=np.full(8, 1e-2), r=np.ones(8),
                                  v_leak=np.zeros(8), v_threshold=np.ones(8), v_reset=np.zeros(8),
                                  w_in=np.ones(8)), f)
    b.output("out", n, (8,))
    return b.build()


def _text(graph) -> Case:
    from snnc.ir.text import print_graph
    return Case("snnir", {"m.snnir": print_graph(graph).encode()}, "m.snnir")


def _text_with_sidecar() -> Case:
    from snnc.ir import GraphBuilder, snn
    from snnc.ir.text import save_snnir
    b = GraphBuilder(dt=1e-3)
    x = b.input("x", (40,))
    fc = b.add("fc", snn.Linear(weight=np.sin(np.arange(400.0)).reshape(10, 40)), x)
    n = b.add("lif", snn.LIF(tau=np.linspace(0.01, 0.03, 10), r=np.ones(10), v_leak=np.zeros(10),
                             v_threshold=np.ones(10), v_reset=np.zeros(10)), fc)
    b.output("y", n, (10,))
    return Case("snnir+npz", _files(lambda d: save_snnir(b.build(), d / "m.snnir")), "m.snnir")


def _files(write) -> dict[str, bytes]:
    """The files `write(folder)` creates, as {name: bytes}, the model first."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write(folder)
        names = sorted(p.name for p in folder.iterdir())
        model = [n for n in names if not n.endswith(".npz")]
        return {n: (folder / n).read_bytes() for n in model + [n for n in names if n not in model]}


# -- NIR ----------------------------------------------------------------------------------------------
def _nir_bytes(graph, compression="gzip") -> bytes:
    import nir
    with tempfile.TemporaryDirectory() as tmp:
        nir.write(Path(tmp) / "m.nir", graph, compression=compression)
        return (Path(tmp) / "m.nir").read_bytes()


def _nir_plain() -> Case:
    import nir
    graph = nir.NIRGraph(nodes={
        "in": nir.Input(np.array([4])), "fc": nir.Affine(weight=np.linspace(-1, 1, 12).reshape(3, 4), bias=np.zeros(3)),
        "lif": nir.LIF(tau=np.full(3, 0.02), r=np.full(3, 2.0), v_leak=np.zeros(3), v_threshold=np.ones(3),
                       v_reset=np.zeros(3)),
        "li": nir.CubaLI(tau_syn=np.full(3, 5e-3), tau_mem=np.full(3, 1e-2), r=np.ones(3), v_leak=np.zeros(3),
                         w_in=np.ones(3)),
        "out": nir.Output(np.array([3]))},
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "li"), ("li", "out")])
    return Case("nir", {"m.nir": _nir_bytes(graph)}, "m.nir")


def _nir_snntorch_style() -> Case:
    """What snntorch.export_to_nir writes for Linear -> RLeaky -> Linear -> Leaky (dt 1e-4, r = τ/dt)."""
    import nir
    dt, beta = 1e-4, np.linspace(0.8, 0.95, 5)
    tau = dt / (1 - beta)

    def lif(n):
        return nir.LIF(tau=tau[:n], r=tau[:n] / dt, v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    rnn = nir.NIRGraph(nodes={"input": nir.Input(np.array([5])), "lif": lif(5),
                              "w_rec": nir.Linear(weight=np.eye(5) * 0.3), "output": nir.Output(np.array([5]))},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    graph = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([3])), "0": nir.Affine(weight=np.cos(np.arange(15.0)).reshape(5, 3), bias=np.zeros(5)),
        "1": rnn, "2": nir.Affine(weight=np.sin(np.arange(10.0)).reshape(2, 5), bias=np.zeros(2)), "3": lif(2),
        "output": nir.Output(np.array([2]))},
        edges=[("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")], type_check=False)
    return Case("nir", {"m.nir": _nir_bytes(graph)}, "m.nir")


def _nir_snnc() -> Case:
    """A file snnc wrote: its meaning in `snnc.*` metadata (JSON edges, node order, reset fields)."""
    from snnc.frontends import nir as fnir
    return Case("nir", _files(lambda d: fnir.save(_lif_graph(), d / "m.nir")), "m.nir")


# -- ONNX ---------------------------------------------------------------------------------------------
def _onnx_export(module, args, **kw) -> bytes:
    import torch
    buf = io.BytesIO()
    torch.onnx.export(module, args, buf, dynamo=False, **kw)
    return buf.getvalue()


def _onnx_step() -> Case:
    """One tick of an snnTorch Leaky layer with its membrane as state input and output."""
    import snntorch
    import torch

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.fc, self.lif = torch.nn.Linear(4, 3), snntorch.Leaky(beta=0.9)

        def forward(self, x, mem):
            spk, mem = self.lif(self.fc(x), mem)
            return spk, mem

    data = _onnx_export(Step().eval(), (torch.rand(2, 4), torch.zeros(2, 3)), input_names=["x", "mem"],
                        output_names=["spk", "mem_out"])
    return Case("onnx-step", {"m.onnx": data}, "m.onnx")


def _onnx_ann() -> Case:
    import torch
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).eval()
    data = _onnx_export(net, (torch.rand(1, 6),), input_names=["x"], output_names=["y"])
    return Case("onnx-ann", {"m.onnx": data}, "m.onnx")


# -- netx ---------------------------------------------------------------------------------------------
def _netx() -> Case:
    from tests.frontends import netx_files as nf
    w1 = (np.arange(24).reshape(6, 4) % 7 - 3) * 20
    w2 = (np.arange(18).reshape(3, 6) % 5 - 2) * 30
    layers = [nf.input_layer([4, 1, 1]), nf.dense_layer(w1, nf.cuba(v_th=80, i_decay=1024, v_decay=128)),
              nf.dense_layer(w2, nf.cuba(v_th=60))]
    return Case("netx", _files(lambda d: nf.write(d / "m.net", layers)), "m.net")
