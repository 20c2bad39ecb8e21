"""The command line under misuse: one exit-code contract, no tracebacks, no raw warnings, no data lost."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import snnc
import snnc.cli as cli
from snnc.artifact import MANIFEST, load_artifact
from snnc.errors import announce
from snnc.ir.text import save_snnir
from tests.backends.truenorth.nets import chain, rates, ternary
from tests.netbuild import mlp

INTERNAL = "please report it; --debug shows the traceback"


def run(args, capsys):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.snnir"
    save_snnir(mlp([5, 3], seed=1), path)
    return path


# -- never lose data -----------------------------------------------------------------------------------
def test_compile_onto_a_directory_that_is_not_an_artifact_is_refused_and_untouched(tmp_path, model, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "thesis.tex").write_text("years of work")
    code, out, err = run(["compile", model, "--target", "loihi", "-o", tmp_path / "out"], capsys)
    assert code == 2 and out == ""
    assert err == (f"snnc: error: {tmp_path / 'out'}: exists and is not an snnc artifact (no manifest.json with "
                   f"format 'snnc-artifact'); not replacing it (pass --force, or save(..., force=True), to "
                   f"replace it anyway)\n")
    assert tree(tmp_path / "out") == {"thesis.tex": b"years of work"}
    assert sorted(os.listdir(tmp_path)) == ["m.snnir", "out"]
    code, out, err = run(["compile", model, "--target", "loihi", "-o", tmp_path / "out", "--force", "--quiet"], capsys)
    assert code == 0 and load_artifact(tmp_path / "out").manifest["input"]["name"] == "m.snnir"


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "forced"])
def test_compile_never_removes_the_models_directory_or_the_current_one(tmp_path, capsys, monkeypatch, force):
    w = tmp_path / "w"
    w.mkdir()
    save_snnir(mlp([5, 3], seed=1), w / "model.snnir")
    before = tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    for dest, reason in (("w", "holds w/model.snnir"), (".", "is the current directory"),
                         ("w/model.snnir", "is w/model.snnir")):
        code, out, err = run(["compile", "w/model.snnir", "--target", "loihi", "-o", dest, *force], capsys)
        assert code == 2 and out == ""
        assert err == f"snnc: error: {dest}: {reason}; not replacing it (choose another artifact directory path)\n"
    assert tree(tmp_path) == before


def test_compile_onto_its_own_artifact_replaces_it_and_leaves_nothing_else(tmp_path, model, capsys):
    out_dir = tmp_path / "a" / "m.loihi"
    assert run(["compile", model, "--target", "loihi", "-o", out_dir, "--quiet"], capsys)[0] == 0
    save_snnir(mlp([5, 3], seed=2), model)
    code, out, _ = run(["compile", model, "--target", "loihi", "-o", out_dir, "--quiet"], capsys)
    assert code == 0 and out.startswith(f"wrote {out_dir}: ")
    assert os.listdir(out_dir.parent) == ["m.loihi"]
    assert tree(out_dir) == snnc.compile(model, "loihi").files


def test_simulate_writes_exactly_the_name_given_and_says_so(tmp_path, model, capsys):
    x = rates(6, 2, 5, p=0.5)
    np.save(tmp_path / "x.npy", x)
    code, out, _ = run(["simulate", model, "--input", tmp_path / "x.npy", "-o", tmp_path / "r.out"], capsys)
    assert code == 0 and out.splitlines()[-1] == f"wrote {tmp_path / 'r.out'}"
    assert sorted(os.listdir(tmp_path)) == ["m.snnir", "r.out", "x.npy"]
    assert np.array_equal(np.load(tmp_path / "r.out"), snnc.simulate(model, x))


def test_simulate_onto_a_directory_is_refused(tmp_path, model, capsys):
    np.save(tmp_path / "x.npy", rates(6, 2, 5))
    (tmp_path / "d").mkdir()
    code, out, err = run(["simulate", model, "--input", tmp_path / "x.npy", "-o", tmp_path / "d"], capsys)
    assert code == 2 and err == f"snnc: error: {tmp_path / 'd'}: is a directory (expected a file name)\n"
    assert os.listdir(tmp_path / "d") == []


def test_convert_that_fails_midway_leaves_the_old_file_and_no_temporaries(tmp_path, model, capsys, monkeypatch):
    from snnc.frontends import nir as nir_frontend
    old = tmp_path / "m.nir"
    assert run(["convert", model, "-o", old], capsys)[0] == 0
    before = old.read_bytes()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f".m.nir.tmp-{dead.pid}-0123abcd").write_bytes(b"half")     # left by a killed convert

    def half_then_fail(graph, path, **options):
        path.write_bytes(before[:100])
        raise KeyboardInterrupt
    monkeypatch.setattr(nir_frontend, "save", half_then_fail)
    code, _, err = run(["convert", model, "-o", old], capsys)
    assert code == 130 and err == "snnc: interrupted\n"
    assert old.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.nir", "m.snnir"]


def test_convert_writes_the_sidecar_and_the_file_together(tmp_path, capsys):
    model = tmp_path / "big.snnir"
    save_snnir(mlp([40, 30], seed=3), model)
    code, out, _ = run(["convert", model, "-o", tmp_path / "o" / "copy.snnir"], capsys)
    assert code == 0 and out == f"wrote {tmp_path / 'o' / 'copy.snnir'} (4 nodes)\n"
    assert sorted(os.listdir(tmp_path / "o")) == ["copy.npz", "copy.snnir"]
    assert snnc.load(tmp_path / "o" / "copy.snnir").nodes.keys() == snnc.load(model).nodes.keys()


# -- one exit-code contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("command, patched", [(["targets"], "_targets"), (["verify", "somewhere"], "_verify")])
def test_an_exception_that_escapes_a_command_is_an_internal_error_exit_3(capsys, monkeypatch, command, patched):
    def broken(args):
        raise KeyError("time_us")
    monkeypatch.setattr(cli, patched, broken)
    code, out, err = run(command, capsys)
    assert code == 3 and out == ""
    assert err == f"snnc: internal error: KeyError: 'time_us'; {INTERNAL}\n"
    with pytest.raises(KeyError):
        cli.main([*command, "--debug"])


def test_internal_error_message_is_one_line(capsys, monkeypatch):
    def broken(args):
        raise ValueError("first line\nsecond line " + "x" * 400)
    monkeypatch.setattr(cli, "_targets", broken)
    code, _, err = run(["targets"], capsys)
    assert code == 3 and len(err.splitlines()) == 1
    assert err.startswith("snnc: internal error: ValueError: first line second line xxx") and "...; please" in err


def test_interrupt_exits_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_targets", interrupted)
    assert run(["targets"], capsys) == (130, "", "snnc: interrupted\n")


@pytest.mark.parametrize("buffered", [True, False])
def test_closed_stdout_exits_quietly(buffered):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env.update({} if buffered else {"PYTHONUNBUFFERED": "1"})        # the error comes at exit, or in print
    p = subprocess.Popen([sys.executable, "-m", "snnc.cli", "targets"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    p.stdout.close()                      # the reader is gone before snnc writes anything, as with `| head -0`
    err = p.stderr.read()
    assert (p.wait(), err) == (141, b"")


def test_warnings_become_one_line_messages_or_are_dropped(capsys, monkeypatch):
    import snnc.api as api_module

    line = []

    def noisy(args):
        for _ in range(2):
            line.append(sys._getframe().f_lineno + 1)
            np.float64(1e308) * np.float64(10.0)                          # numpy: overflow encountered
            announce("m.nir: no dt stored; assuming dt = 0.001 s (pass --dt)")
            warnings.warn_explicit("a library's own remark", UserWarning, "/elsewhere/lib/x.py", 7)
            warnings.warn_explicit("something odd in snnc", UserWarning, api_module.__file__, 12)
        print("done")
    monkeypatch.setattr(cli, "_targets", noisy)
    with warnings.catch_warnings(record=True) as passed_on:
        code, out, err = run(["targets"], capsys)
    assert code == 0 and out == "done\n" and passed_on == []
    lines = err.splitlines()
    assert len(lines) == 3, err
    assert lines[0].startswith("snnc: warning: floating-point overflow encountered in scalar multiply (in ")
    assert lines[0].endswith(f"test_cli_robust.py:{line[0]}); the result may hold inf or NaN values")
    assert lines[1] == "snnc: note: m.nir: no dt stored; assuming dt = 0.001 s (pass --dt)"
    assert lines[2] == "snnc: warning: something odd in snnc"
    with warnings.catch_warnings(record=True) as passed_on:
        warnings.simplefilter("always")
        run(["targets", "--debug"], capsys)
    assert [str(w.message) for w in passed_on] == ["a library's own remark", "something odd in snnc"] * 2


# -- tracebacks at the command line -------------------------------------------------------------------
@pytest.fixture
def truenorth_artifact(tmp_path):
    rng = np.random.default_rng(5)
    save_snnir(chain([ternary(rng, 12, 16), ternary(rng, 6, 12)], theta=2.0), tmp_path / "net.snnir")
    snnc.compile(tmp_path / "net.snnir", "truenorth").save(tmp_path / "net.truenorth")
    return tmp_path / "net.truenorth"


def test_inspect_of_a_truenorth_artifact_states_its_time_in_ms(truenorth_artifact, capsys):
    est = load_artifact(truenorth_artifact).manifest["estimate"]["per_inference"]
    code, out, err = run(["inspect", truenorth_artifact], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("artifact for target truenorth: 2 core(s)")      # the family's own wording follows
    assert lines[1] == (f"  estimate per inference: {est['energy_uj']:.3g} µJ, {est['time_ms']:.3g} ms "
                        f"({est['ticks']} ticks; assumptions in manifest.json)")


@pytest.mark.parametrize("estimate, line", [
    ({"per_inference": {"energy_uj": 0.5, "time_us": 36.37, "ticks": 102}},
     "  estimate per inference: 0.5 µJ, 36.4 µs (102 ticks; assumptions in manifest.json)"),
    ({"per_inference": {"energy_uj": 2.0, "time_ms": 101.0}}, "  estimate per inference: 2 µJ, 101 ms "
                                                              "(assumptions in manifest.json)"),
    ({"per_inference": {"energy_uj": "lots", "time_ns": 7, "ticks": True}},
     "  estimate per inference: 7 ns (assumptions in manifest.json)"),
    ({"per_inference": {"energy_uj": float("nan")}}, None),
    ({"per_inference": ["not", "a", "table"]}, None),
    ("nothing", None),
])
def test_estimate_line_reads_whichever_fields_a_family_states(estimate, line):
    assert cli._estimate_line({"estimate": estimate}) == line


def test_inspect_of_a_manifest_missing_what_the_summary_needs_is_a_one_line_error(truenorth_artifact, capsys):
    import json
    path = truenorth_artifact / MANIFEST
    m = json.loads(path.read_text())
    del m["resources"]
    path.write_text(json.dumps(m))
    code, out, err = run(["inspect", truenorth_artifact], capsys)
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"snnc: error: {truenorth_artifact}") and "resources" in err


@pytest.mark.parametrize("content, expected", [
    (lambda p: np.savez(p, a=np.zeros(3)) or os.rename(f"{p}.npz", p), "is an .npz archive; expected one .npy array"),
    (lambda p: p.write_bytes(b""), "not a readable .npy array without pickled objects (EOFError"),
    (lambda p: p.write_text("1 2 3"), "not a readable .npy array without pickled objects (ValueError"),
    (lambda p: np.save(p, np.array(["a", "b"])), "holds <U1 values; expected numbers (bool, integer or float)"),
    (lambda p: p.mkdir(), "not a readable .npy array without pickled objects (IsADirectoryError"),
    (lambda p: np.save(p, np.zeros((0, 2, 5))), "holds no values (shape [0, 2, 5])"),
    (lambda p: np.save(p, np.where(np.arange(20).reshape(2, 2, 5) == 13, np.nan, 0.0)),
     "holds nan at index [1, 0, 3]; expected finite values"),
])
def test_unreadable_input_arrays_are_one_line_errors(tmp_path, model, capsys, content, expected):
    x = tmp_path / "x.npy"
    content(x)
    code, out, err = run(["simulate", model, "--input", x], capsys)
    assert code == 2 and out == ""
    assert err.startswith(f"snnc: error: {x}: {expected}") and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("labels, expected", [
    (np.array([0, 1, -2]), "entry 2 is -2; labels must be class indices (integers >= 0)"),
    (np.array([0.0, 0.5]), "entry 1 is 0.5; labels must be class indices (integers >= 0)"),
    (np.array([1.0, np.inf]), "holds inf at index [1]; expected finite values"),
])
def test_labels_that_are_not_class_indices_are_refused(tmp_path, model, capsys, labels, expected):
    np.save(tmp_path / "x.npy", rates(6, 2, 5))
    np.save(tmp_path / "y.npy", labels)
    code, out, err = run(["simulate", model, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy"], capsys)
    assert code == 2 and err == f"snnc: error: {tmp_path / 'y.npy'}: {expected}\n"


def test_a_failed_write_names_the_output_not_a_temporary_and_leaves_nothing(tmp_path, model, capsys, monkeypatch):
    np.save(tmp_path / "x.npy", rates(6, 2, 5))

    def full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    code, _, err = run(["simulate", model, "--input", tmp_path / "x.npy", "-o", tmp_path / "y.npy"], capsys)
    assert code == 2 and err == f"snnc: error: {tmp_path / 'y.npy'}: cannot write (No space left on device)\n"
    assert sorted(os.listdir(tmp_path)) == ["m.snnir", "x.npy"]
