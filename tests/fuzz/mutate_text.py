"""Mutations of `.snnir` text and its `.npz` sidecar (see `mutate.py`)."""
from __future__ import annotations

import io
import random
import re

import numpy as np

from tests.fuzz.seeds import Case

WEIRD_NUMBERS = ("nan", "inf", "-inf", "1e308", "-1e308", "0", "-1", "1e12", "99999999999999999999", "-0.0",
                 "1e-320", "3.5", "7")


# -- text ---------------------------------------------------------------------------------------------
def _text(case: Case) -> str:
    return case.files[case.model].decode("utf-8", errors="replace")


def _set_text(case: Case, text: str, what: str, invalid: str = "") -> Case:
    return case.with_file(case.model, text.encode("utf-8"), what, invalid)


_NUMBER = re.compile(r"(?<![\w.\-])[+-]?(inf|nan|[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?)(?![\w.\-])")


def weird_number(case: Case, rng: random.Random) -> Case:
    """A number replaced by NaN, inf, huge, negative, zero or a fraction. A non-finite value
    outside a quoted string is never valid: every number in the text is a parameter, a
    dimension, an integer field, dt or the version."""
    text = _text(case)
    spots = list(_NUMBER.finditer(text))
    if not spots:
        return case
    m = rng.choice(spots)
    new = rng.choice(WEIRD_NUMBERS)
    quoted = text.count('"', text.rfind("\n", 0, m.start()) + 1, m.start()) % 2 == 1
    bad = new in ("nan", "inf", "-inf") and not quoted
    return _set_text(case, text[:m.start()] + new + text[m.end():], f"number {m.group()} -> {new}",
                     "a non-finite number" if bad else "")


def edit_lines(case: Case, rng: random.Random) -> Case:
    lines = _text(case).split("\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    how = rng.choice(("delete", "duplicate", "swap", "move"))
    if how == "delete":
        del lines[i]
    elif how == "duplicate":
        lines.insert(i, lines[j])
    elif how == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines.insert(j, lines.pop(i))
    return _set_text(case, "\n".join(lines), f"{how} line {i}")


# a fixed list (not the op registry, which grows): the same rng draws give the same cases in every version
SWAP_OPS = ("snn.input", "snn.output", "snn.affine", "snn.linear", "snn.sparse_linear", "snn.scale", "snn.conv1d",
            "snn.conv2d", "snn.avg_pool2d", "snn.sum_pool2d", "snn.flatten", "snn.delay", "snn.threshold", "snn.i",
            "snn.li", "snn.if", "snn.lif", "snn.cuba_li", "snn.cuba_lif", "ann.relu", "loihi.dense", "loihi.cuba",
            "analog.crossbar", "snn.nonsense", "snn", "")


def swap_op(case: Case, rng: random.Random) -> Case:
    text = _text(case)
    ops = list(re.finditer(r"= ((snn|ann|loihi|analog|truenorth)\.[a-z_0-9]+)", text))
    if not ops:
        return case
    m = rng.choice(ops)
    new = rng.choice(SWAP_OPS)
    return _set_text(case, text[:m.start(1)] + new + text[m.end(1):], f"op {m.group(1)} -> {new}")


def deep_nesting(case: Case, rng: random.Random) -> Case:
    """Brackets nested deep: around a list, as an array of rank N ([[...[1.0]...]] with shape
    [1, ..., 1]), or as the JSON of a mapping statement."""
    text = _text(case)
    depth = rng.choice((50, 1000, 20_000))
    how = rng.choice(("list", "array", "json"))
    if how == "json":
        return _set_text(case, text + 'mapping "' + "[" * depth + "]" * depth + '"\n', f"mapping JSON {depth} deep")
    if how == "array":
        arrays = list(re.finditer(r"f64\[[0-9, ]*\] (splat \S+|\[[^\n]*?\])(?=[,}\s])", text))
        if not arrays:
            return case
        m = rng.choice(arrays)
        new = "f64[" + ", ".join(["1"] * depth) + "] " + "[" * depth + "1.0" + "]" * depth
        return _set_text(case, text[:m.start()] + new + text[m.end():], f"array of rank {depth}")
    spots = list(re.finditer(r"\[[^\[\]\n]*\]", text))
    if not spots:
        return case
    m = rng.choice(spots)
    return _set_text(case, text[:m.start()] + "[" * depth + m.group() + "]" * depth + text[m.end():],
                     f"nest {m.group()[:20]} {depth} deep")


def huge_shape(case: Case, rng: random.Random) -> Case:
    text = _text(case)
    spots = list(re.finditer(r"f64\[[0-9, ]*\]", text))
    if not spots:
        return case
    m = rng.choice(spots)
    new = rng.choice(("f64[100000000000]", "f64[67108865]", "f64[4000000, 16]", "f64[" + ", ".join(["2"] * 60) + "]"))
    return _set_text(case, text[:m.start()] + new + text[m.end():], f"shape {m.group()} -> {new[:24]}")


def graph_edit(case: Case, rng: random.Random) -> Case:
    """Header, cycles, missing inputs and outputs, many nodes."""
    text = _text(case)
    nodes = re.findall(r"^node (\S+)", text, re.M)
    how = rng.choice(("dt", "cycle", "no-io", "many", "bad-version", "unicode"))
    if how == "dt":
        text = re.sub(r"dt=\S+", "dt=" + rng.choice(("0", "-1", "nan", "inf", "1e-400", "x")), text, count=1)
    elif how == "cycle" and len(nodes) >= 2:
        text += f"edge {nodes[-1]} -> {nodes[0]}\nedge {nodes[0]} -> {nodes[-1]}\n"
    elif how == "no-io":
        text = re.sub(r"^(input|output) .*$", "", text, flags=re.M)
    elif how == "many":
        text += "".join(f"node extra{i} = snn.scale {{scale = f64[1] splat 1.0}}\n" for i in range(12_000))
    elif how == "bad-version":
        text = text.replace("snnir 1", "snnir " + rng.choice(("2", "0", "\"1\"", "1.0")), 1)
    else:
        text = text.replace("node", "n\u00f6de", 1)
    return _set_text(case, text, f"graph edit: {how}")


TEXT = (weird_number, edit_lines, swap_op, deep_nesting, huge_shape, graph_edit)


# -- the sidecar ------------------------------------------------------------------------------------------
def _npy(array=None, header=None) -> bytes:
    buf = io.BytesIO()
    if header is not None:
        np.lib.format.write_array_header_1_0(buf, header)
        buf.write(b"\0" * 16)
    else:
        np.lib.format.write_array(buf, array, allow_pickle=True)
    return buf.getvalue()


def sidecar_member(case: Case, rng: random.Random) -> Case:
    import zipfile
    npz = next((n for n in case.files if n.endswith(".npz")), None)
    if npz is None:
        return case
    with zipfile.ZipFile(io.BytesIO(case.files[npz])) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    name = rng.choice(list(members))
    try:
        shape = np.lib.format.read_array_header_1_0(_after_magic(members[name]))[0]
    except (ValueError, EOFError):
        shape = (3,)
    how = rng.choice(("object", "lie", "nan", "dtype", "remove", "rename", "compressed-zeros"))
    invalid = ""
    if how == "object":
        members[name], invalid = _npy(np.array([{}] * 3, dtype=object)), "a pickled sidecar array"
    elif how == "lie":
        members[name] = _npy(header={"descr": "<f8", "fortran_order": False, "shape": (10**9, 8)})
        invalid = "a sidecar header past the limits"
    elif how == "nan":
        members[name], invalid = _npy(np.full(shape, np.nan)), "a NaN parameter"
    elif how == "dtype":
        members[name] = _npy(np.ones(shape, dtype=rng.choice(("<i2", "<f4", "<c16", "|b1", "<U3"))))
    elif how == "remove":
        del members[name]
    elif how == "rename":
        members["other.npy"] = members.pop(name)
    else:
        members[name] = _npy(np.zeros((1 << 24,)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return case.with_file(npz, buf.getvalue(), f"sidecar {name}: {how}", invalid)


def _after_magic(data: bytes):
    f = io.BytesIO(data)
    np.lib.format.read_magic(f)
    return f


def sidecar_link(case: Case, rng: random.Random) -> Case:
    """The sidecar replaced by a symbolic link to a file outside the model's folder (see `Case.write`)."""
    npz = next((n for n in case.files if n.endswith(".npz")), None)
    if npz is None:
        return case
    out = case.with_file("../outside/real.npz", case.files[npz], "copy the sidecar outside")
    return out.with_file(npz, b"@symlink:../outside/real.npz", "sidecar is a symlink outside",
                         "a sidecar through a symbolic link")


SIDECAR = (sidecar_member, sidecar_link)
