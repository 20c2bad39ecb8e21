"""The netx reader under hostile and malformed files: it reads only the file it is given, checks
every declared size before reading, and answers every malformed structure with one
MalformedInputError or UnsupportedOpError naming the file and the place, never a traceback."""
import re

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.errors import MalformedInputError, SnncError, UnsupportedOpError, UsageError
from snnc.frontends.netx import load
from tests.frontends import netx_files as nf


def small_net(path, *, conv=True):
    rng = np.random.default_rng(0)
    layers = [nf.input_layer((1, 4, 4), nf.cuba(10))]
    if conv:
        layers += [nf.conv_layer(rng.integers(-9, 9, (2, 1, 3, 3)), (2, 2, 2), nf.cuba(20)), nf.flatten_layer(8)]
    layers += [nf.dense_layer(rng.integers(-9, 9, (3, 8 if conv else 16)), nf.cuba(30))]
    nf.write(path, layers)
    return path


def refused(path, exc=MalformedInputError, **options) -> str:
    with pytest.raises(exc) as err:
        load(path, **options)
    return str(err.value)


# -- reading only the named file ------------------------------------------------------------------
def test_external_storage_is_refused(tmp_path):
    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.arange(24, dtype="<i8").tobytes())
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/3/weight"]
        f["layer/3"].create_dataset("weight", shape=(3, 8), dtype="<i8", external=[(str(outside), 0, 192)])
    assert refused(path) == (f"{path}:/layer/3/weight: stores its data in external file {outside}; snnc reads "
                             f"only the file it is given")


def test_external_link_is_refused(tmp_path):
    other = small_net(tmp_path / "other.net")
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/1/weight"]
        f["layer/1/weight"] = h5py.ExternalLink(str(other), "/layer/1/weight")
    assert refused(path) == (f"{path}:/layer/1/weight: is an HDF5 external link to {other}:/layer/1/weight; snnc "
                             f"reads only the file it is given")


def test_soft_link_is_refused(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/3/neuron"]
        f["layer/3/neuron"] = h5py.SoftLink("/layer/2")
    assert refused(path) == (f"{path}:/layer/3/neuron: is an HDF5 soft link to /layer/2; netx files hold plain "
                             f"groups and datasets only")


def test_virtual_dataset_is_refused(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        layout = h5py.VirtualLayout(shape=(3, 8), dtype="f4")
        layout[:] = h5py.VirtualSource(f["layer/3/weight"])
        f["layer/3"].create_virtual_dataset("bias", layout)
    assert refused(path) == (f"{path}:/layer/3/bias: is an HDF5 virtual dataset (its data lives in other datasets "
                             f"or files); snnc reads only plain datasets")


def test_a_hard_link_cycle_is_walked_once(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        f["layer/3/neuron/back"] = f["layer"]             # an extra key pointing at an ancestor
    assert load(path).op("layer3.neuron").vth_mant[0] == 30


def test_not_a_regular_file(tmp_path):
    assert refused(tmp_path) == f"{tmp_path}: no such file (or not a regular file)"
    assert refused(tmp_path / "missing.net") == f"{tmp_path / 'missing.net'}: no such file (or not a regular file)"


# -- declared sizes are checked before reading ----------------------------------------------------------
def test_a_huge_declared_dataset_is_refused_before_it_is_read(tmp_path):
    path = small_net(tmp_path / "a.net", conv=False)
    with h5py.File(path, "a") as f:
        del f["layer/1/weight"]
        f["layer/1"].create_dataset("weight", shape=(16, 4_000_000_000), dtype="f4")     # 256 GB, never written
    assert (tmp_path / "a.net").stat().st_size < 100_000
    assert re.fullmatch(rf"{re.escape(str(path))}:layer/1/weight: 64000000000 elements exceed what is left of "
                        rf"the limit on array elements read from one file \(\d+ left; raise it with max_elements=\)",
                        refused(path))


def test_a_huge_declared_layer_shape_is_refused(tmp_path):
    path = small_net(tmp_path / "a.net", conv=False)
    with h5py.File(path, "a") as f:
        f["layer/0/shape"][...] = [1 << 20, 1 << 20, 1]
    assert re.fullmatch(rf"{re.escape(str(path))}:layer/0/shape: 1099511627776 neurons exceed what is left of "
                        rf"the limit on array elements read from one file \(\d+ left; raise it with max_elements=\)",
                        refused(path))


def test_max_elements_option(tmp_path):
    path = tmp_path / "a.net"
    nf.write(path, [nf.dense_layer(np.ones((3, 1000)), nf.cuba(30))])
    assert refused(path, max_elements=2000).startswith(f"{path}:layer/0/weight: 3000 elements exceed what is left")
    assert load(path, max_elements=4000).op("layer0.synapse").weight.shape == (3, 1000)
    assert refused(path, UsageError, max_elements=0) == "netx.load: max_elements must be a positive integer, got 0"


# -- values ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [
    (np.nan, "holds the non-finite value nan; expected integers"),
    (np.inf, "holds the non-finite value inf; expected integers"),
    (2.5, "holds the fractional value 2.5; Lava takes integers here"),
    (1e12, "holds 1e+12, outside [-2147483648, 2147483647] (Lava holds it in int32)"),
])
def test_bad_weight_values(tmp_path, value, message):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        f["layer/1/weight"][0, 0, 1, 1] = value
    assert refused(path) == f"{path}:layer/1/weight: {message}"


def test_bad_neuron_value(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/1/neuron/vDecay"]
        f["layer/1/neuron/vDecay"] = np.float64("nan")
    assert refused(path) == f"{path}:layer/1/neuron/vDecay: holds the non-finite value nan; expected integers"


def test_decay_out_of_range(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        f["layer/3/neuron/iDecay"][()] = 5000
    assert refused(path) == f"{path}:layer/3/neuron: du must lie in [-1, 4095], got [4999, 4999]"


# -- structure ------------------------------------------------------------------------------------------
def test_dataset_where_a_group_is_expected(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/1/neuron"]
        f["layer/1/neuron"] = np.arange(3)
    assert refused(path) == f"{path}:layer/1/neuron: expected an HDF5 group here, found a dataset"


def test_layer_that_is_a_dataset(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/2"]
        f["layer/2"] = 7
    assert refused(path) == f"{path}:layer/2: expected an HDF5 group here, found a dataset"


def test_group_where_a_dataset_is_expected(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/1/stride"]
        f["layer/1"].create_group("stride")
    assert refused(path) == f"{path}:layer/1/stride: expected a dataset here, found a group"


@pytest.mark.parametrize("key, data, message", [
    ("type", np.arange(3), "expected a short ASCII string, got HDF5 data of type int64, shape [3]"),
    ("type", np.array([b"x" * 300]), "expected a short ASCII string, got HDF5 data of type |S300, shape [1]"),
    ("weight", np.array([b"abc"]), "expected integers, got HDF5 data of type |S3"),
    ("weight", np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")]), "expected integers, got HDF5 data of type "
                                                               "[('a', '<i4'), ('b', '<f8')]"),
])
def test_wrong_dtypes(tmp_path, key, data, message):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f[f"layer/1/{key}"]
        f[f"layer/1/{key}"] = data
    assert refused(path) == f"{path}:layer/1/{key}: {message}"


def test_missing_conv_key(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/1/dilation"]
    assert refused(path) == f"{path}:layer/1: missing key 'dilation'"


@pytest.mark.parametrize("key, data, message", [
    ("shape", [2, 0, 2], "expected 1 to 3 positive sizes (C, H, W), got [2, 0, 2]"),
    ("stride", [1, 2, 3], "expected one or two integers >= 1 (H, W), got [1, 2, 3]"),
    ("padding", [-1], "expected one or two integers >= 0 (H, W), got [-1]"),
    ("weight", np.ones((2, 1, 3)), "expected [C_out, C_in/groups, KH, KW], got shape [2, 1, 3]"),
])
def test_bad_conv_shapes(tmp_path, key, data, message):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f[f"layer/1/{key}"]
        f[f"layer/1/{key}"] = np.asarray(data)
    assert refused(path) == f"{path}:layer/1/{key}: {message}"


def test_layers_must_be_numbered(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        f.move("layer/3", "layer/7")
    assert refused(path) == f"{path}:layer: layers must be named 0 … n−1, got 0, 1, 2, 7"


def test_refused_layer_kinds_name_the_reason(tmp_path):
    path = small_net(tmp_path / "a.net")
    with h5py.File(path, "a") as f:
        del f["layer/3/type"]
        f["layer/3"].create_dataset("type", (1,), "S10", [b"concat"])
    assert refused(path, UnsupportedOpError) == (
        f"{path}, node 'layer/3', op 'concat': skip connections are not read (Lava's netx raises "
        f"NotImplementedError for concat) (supported: input, flatten, dense, conv, pool)")


# -- a fuzz: every mutation of a valid file loads or raises one snnc error ---------------------------------
MUTATIONS = st.sampled_from(["delete", "nan", "huge", "negative", "fraction", "string", "group", "shape",
                             "empty", "scalar"])


def mutate(f, key: str, how: str, draw_int: int) -> None:
    """Replace dataset or group `key` of an open file by a damaged version of it (`how`)."""
    parent, name = key.rsplit("/", 1) if "/" in key else ("/", key)
    old = f[key]
    numeric = isinstance(old, h5py.Dataset) and old.dtype.kind in "biuf" and old.size
    data = np.asarray(old[()], np.float64).reshape(-1) if numeric else None
    del f[key]
    if how == "delete":
        return
    if how == "group":
        f[parent].create_group(name)
        return
    values = {"nan": np.float64("nan"), "huge": 1e300, "negative": -draw_int, "fraction": 0.5 + draw_int,
              "string": np.bytes_(b"CUBA"), "empty": np.zeros(0), "scalar": draw_int,
              "shape": np.arange(draw_int % 7 + 1, dtype=np.int64).reshape(-1, 1)}
    if how in ("nan", "huge", "negative", "fraction") and data is not None:
        data[draw_int % data.size] = values[how]
        f[key] = data.reshape(old.shape)
    else:
        f[key] = values[how]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_mutated_files_load_or_raise_one_snnc_error(tmp_path_factory, data):
    path = small_net(tmp_path_factory.mktemp("fuzz") / "a.net", conv=data.draw(st.booleans()))
    with h5py.File(path, "a") as f:
        keys = []
        f.visititems(lambda k, obj: keys.append(k) if isinstance(obj, h5py.Dataset) else None)
        for _ in range(data.draw(st.integers(1, 3))):
            live = [k for k in keys if k in f]
            if live:
                mutate(f, data.draw(st.sampled_from(sorted(live))), data.draw(MUTATIONS), data.draw(st.integers(0, 99)))
    try:
        g = load(path)
    except SnncError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        g.verify()


def load_corrupted(base: bytes, path, seed: int) -> None:
    """Flip a few bytes of (or truncate) a valid file; loading it either works or raises one snnc error."""
    rnd = np.random.default_rng(seed)
    data = bytearray(base)
    if rnd.random() < 0.2:
        data = data[:int(rnd.integers(len(data)))]
    else:
        for i in rnd.integers(len(data), size=int(rnd.integers(1, 9))):
            data[i] = int(rnd.integers(256))
    path.write_bytes(bytes(data))
    try:
        load(path).verify()
    except SnncError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


@pytest.mark.parametrize("n, first", [pytest.param(60, 0, id="60"),
                                      pytest.param(3000, 1000, id="3000", marks=pytest.mark.slow)])
def test_fuzz_corrupted_bytes_load_or_raise_one_snnc_error(tmp_path, n, first):
    base = small_net(tmp_path / "a.net").read_bytes()
    for seed in range(first, first + n):
        load_corrupted(base, tmp_path / "m.net", seed)


def test_complex_dense_is_refused_and_a_weight_group_is_malformed(tmp_path):
    path = small_net(tmp_path / "a.net", conv=False)
    with h5py.File(path, "a") as f:
        del f["layer/1/weight"]
        f["layer/1/weight/real"] = np.ones((3, 16))
    assert refused(path) == f"{path}:layer/1/weight: expected a dataset here, found a group"
    with h5py.File(path, "a") as f:
        f["layer/1/weight/imag"] = np.ones((3, 16))
    assert refused(path, UnsupportedOpError) == (
        f"{path}, node 'layer/1', op 'dense (weight/real, weight/imag)': complex-valued dense layers drive "
        f"resonate-and-fire neurons, which have no loihi.* op (supported: input, flatten, dense, conv, pool)")
