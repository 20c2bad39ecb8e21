"""NIR files that try to make snnc read elsewhere, allocate without bound, or accept non-finite
parameters: each refused with one line naming the file and the place."""
from __future__ import annotations

import re

import h5py
import nir
import numpy as np
import pytest

from snnc.errors import MalformedInputError
from snnc.frontends import nir as fnir
from snnc.safeio import MAX_DEPTH, MAX_ELEMENTS, MAX_EXPANSION

pytestmark = pytest.mark.filterwarnings("ignore::snnc.errors.Guess")

SECRET = b"root:x:0:0:not-a-weight" * 8


def plain(**lif):
    fields = dict(tau=np.full(3, 0.02), r=np.full(3, 2.0), v_leak=np.zeros(3), v_threshold=np.ones(3),
                  v_reset=np.zeros(3))
    fields.update(lif)
    return nir.NIRGraph(nodes={"in": nir.Input(np.array([4])),
                               "fc": nir.Affine(weight=np.full((3, 4), 0.5), bias=np.zeros(3)),
                               "lif": nir.LIF(**fields), "out": nir.Output(np.array([3]))},
                        edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")])


def written(tmp_path, graph=None, name="m.nir"):
    path = tmp_path / name
    nir.write(path, graph or plain())
    return path


def replace_weight(path, make):
    """Swap node 'fc''s weight dataset for what `make(group, name)` creates."""
    with h5py.File(path, "a") as f:
        group = f["node/nodes/fc"]
        del group["weight"]
        make(group, "weight")


def refused(path, **options) -> str:
    with pytest.raises(MalformedInputError) as err:
        fnir.load(path, **options)
    return str(err.value)


def test_weights_in_external_storage_are_refused(tmp_path):
    outside = tmp_path / "passwd"
    outside.write_bytes(SECRET)
    path = written(tmp_path)
    replace_weight(path, lambda g, k: g.create_dataset(k, shape=(3, 4), dtype="<f8",
                                                       external=[(str(outside), 0, 96)]))
    assert refused(path) == (f"{path}:/node/nodes/fc/weight: a dataset stored in the external file '{outside}'; "
                             f"snnc reads only the file it was given")


def test_weights_behind_an_external_link_are_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["w"] = np.frombuffer(SECRET[:96], "<f8").reshape(3, 4)
    path = written(tmp_path)
    replace_weight(path, lambda g, k: g.__setitem__(k, h5py.ExternalLink(str(other), "/w")))
    assert refused(path) == (f"{path}:/node/nodes/fc/weight: an external link to '/w' in '{other}'; snnc reads "
                             f"only the file it was given")


def test_a_soft_link_is_refused(tmp_path):
    path = written(tmp_path)
    replace_weight(path, lambda g, k: g.__setitem__(k, h5py.SoftLink("/node/nodes/lif/tau")))
    assert refused(path) == (f"{path}:/node/nodes/fc/weight: a soft link to '/node/nodes/lif/tau'; snnc reads "
                             f"objects stored under their own name only")


def test_a_virtual_dataset_is_refused(tmp_path):
    other = tmp_path / "src.h5"
    with h5py.File(other, "w") as f:
        f["w"] = np.ones((3, 4))
    path = written(tmp_path)

    def virtual(group, key):
        layout = h5py.VirtualLayout(shape=(3, 4), dtype="f8")
        layout[:] = h5py.VirtualSource(str(other), "w", shape=(3, 4))
        group.create_virtual_dataset(key, layout)
    replace_weight(path, virtual)
    assert refused(path) == (f"{path}:/node/nodes/fc/weight: a virtual dataset (its data lives in other files); "
                             f"snnc reads only the file it was given")


def test_a_declared_huge_weight_is_refused_before_it_is_read(tmp_path):
    path = written(tmp_path)
    replace_weight(path, lambda g, k: g.create_dataset(k, shape=(16, 10**9), dtype="<f8"))
    assert re.fullmatch(rf"{re.escape(str(path))}:/node/nodes/fc/weight: shape \[16, 1000000000\] declares "
                        rf"16000000000 elements, 160000000\d\d in all, over the limit of {MAX_ELEMENTS} per input "
                        rf"\(raise it with the load option max_elements=N\)", refused(path))
    replace_weight(path, lambda g, k: g.create_dataset(k, shape=(16, 4_000_000), dtype="<f8"))
    assert refused(path) == (f"{path}:/node/nodes/fc/weight: declares 512000000 bytes but stores 0: more than "
                             f"{MAX_EXPANSION} declared bytes per stored byte (raise it with the load option "
                             f"max_expansion=X)")


def test_the_element_limit_is_a_load_option(tmp_path):
    path = written(tmp_path)
    assert "per input" in refused(path, max_elements=20)
    assert fnir.load(path, max_elements=10**6).op("fc").weight.shape == (3, 4)


def test_deeply_nested_graphs_are_refused(tmp_path):
    graph = plain()
    for _ in range(MAX_DEPTH // 2 + 1):
        graph = nir.NIRGraph(nodes={"in": nir.Input(np.array([4])), "sub": graph, "out": nir.Output(np.array([3]))},
                             edges=[("in", "sub"), ("sub", "out")], type_check=False)
    path = written(tmp_path, graph)
    assert refused(path).endswith(f": groups nest more than {MAX_DEPTH} deep")


@pytest.mark.parametrize("where, field, value, shown", [
    ("lif", "v_reset", np.array([0.0, np.nan, 0.0]), "NaN at [1]"),
    ("lif", "v_threshold", np.array([1.0, 1.0, np.inf]), "inf at [2]"),
    ("lif", "tau", np.array([0.02, np.nan, 0.02]), None),       # the op's own rule: tau > 0
    ("fc", "weight", None, "NaN at [2, 1]"),
])
def test_non_finite_parameters_are_refused(tmp_path, where, field, value, shown):
    graph = plain(**({field: value} if where == "lif" else {}))
    if where == "fc":
        w = np.full((3, 4), 0.5)
        w[2, 1] = np.nan
        graph.nodes["fc"].weight = w
    path = written(tmp_path, graph)
    message = refused(path)
    if shown is None:
        assert message == f"{path}: node 'lif' (lif): tau must be > 0 seconds, got min nan"
    else:
        assert message == f"{path}:node '{where}': field '{field}' holds {shown} (expected finite numbers)"


def test_a_file_naming_type_check_and_a_top_level_neuron(tmp_path):
    path = written(tmp_path)
    with h5py.File(path, "a") as f:
        f["node/type_check"] = 1
    assert refused(path) == f"{path}: the top-level graph has a 'type_check' entry, which nir's reader refuses"
    with h5py.File(tmp_path / "lone.nir", "w") as f:
        g = f.create_group("node")
        g["type"] = "Threshold"
        g["threshold"] = np.ones(2)
    assert refused(tmp_path / "lone.nir") == (f"{tmp_path / 'lone.nir'}: the top-level node is a Threshold; a NIR "
                                              f"file holds a NIRGraph")


def test_node_group_that_is_a_dataset(tmp_path):
    with h5py.File(tmp_path / "d.nir", "w") as f:
        f["node"] = np.zeros(3)
    assert refused(tmp_path / "d.nir") == f"{tmp_path / 'd.nir'}: not a NIR file: it has no 'node' group"
