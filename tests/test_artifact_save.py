"""Saving artifacts never loses data: what may be replaced, the swap, crashes at every step, stale temporaries."""
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

import snnc
from snnc import fileio
from snnc.artifact import MANIFEST, Artifact, load_artifact, sha256
from snnc.errors import MalformedInputError, UsageError
from snnc.ir.text import save_snnir
from tests.netbuild import mlp

NOT_ARTIFACT = ("exists and is not an snnc artifact (no manifest.json with format 'snnc-artifact'); not "
                "replacing it (pass --force, or save(..., force=True), to replace it anyway)")


def tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def complete(root) -> dict:
    """The files at `root`, after checking they are a whole artifact: loadable, every listed file
    present with its digest, nothing unlisted."""
    art = load_artifact(root)
    listed = art.manifest["files"]
    files = tree(root)
    assert set(files) == set(listed) | {MANIFEST}
    assert all(sha256(files[rel]) == digest for rel, digest in listed.items())
    return files


@pytest.fixture(scope="module")
def old_new():
    return snnc.compile(mlp([5, 3], seed=1), "loihi"), snnc.compile(mlp([6, 4], seed=2), "loihi")


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# -- what may be replaced -------------------------------------------------------------------------
def test_existing_artifact_is_replaced_and_nothing_else_is_left(tmp_path, old_new):
    old, new = old_new
    old.save(tmp_path / "out")
    assert new.save(tmp_path / "out") == tmp_path / "out"
    assert complete(tmp_path / "out") == new.files
    assert os.listdir(tmp_path) == ["out"]


def test_directory_that_is_not_an_artifact_is_refused_and_untouched(tmp_path, old_new):
    (tmp_path / "out" / "sub").mkdir(parents=True)
    (tmp_path / "out" / "data.txt").write_text("precious")
    (tmp_path / "out" / "sub" / "more.bin").write_bytes(b"\x00\x01")
    before = tree(tmp_path / "out")
    with pytest.raises(UsageError) as e:
        old_new[1].save(tmp_path / "out")
    assert str(e.value) == f"{tmp_path / 'out'}: {NOT_ARTIFACT}"
    assert tree(tmp_path / "out") == before and os.listdir(tmp_path) == ["out"]
    old_new[1].save(tmp_path / "out", force=True)
    assert complete(tmp_path / "out") == old_new[1].files and os.listdir(tmp_path) == ["out"]


def test_artifact_holding_other_files_is_refused_unless_forced(tmp_path, old_new):
    old, new = old_new
    old.save(tmp_path / "out")
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match=r"out: holds 1 file\(s\) that are not part of the artifact \(notes.txt\); "):
        new.save(tmp_path / "out")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    new.save(tmp_path / "out", force=True)
    assert complete(tmp_path / "out") == new.files


def test_forged_manifest_does_not_make_a_directory_replaceable(tmp_path, old_new):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text('["snnc-artifact"]')
    (out / "data.txt").write_text("x")
    with pytest.raises(UsageError, match="is not an snnc artifact"):
        old_new[0].save(out)
    os.symlink(tmp_path / "elsewhere.json", tmp_path / "link.json")
    (tmp_path / "elsewhere.json").write_text('{"format": "snnc-artifact", "files": {"data.txt": ""}}')
    (out / MANIFEST).unlink()
    os.symlink(tmp_path / "elsewhere.json", out / MANIFEST)        # a linked manifest is not the artifact's own
    with pytest.raises(UsageError, match="is not an snnc artifact"):
        old_new[0].save(out)
    assert (out / "data.txt").read_text() == "x"


def test_empty_directory_is_filled(tmp_path, old_new):
    (tmp_path / "out").mkdir()
    old_new[0].save(tmp_path / "out")
    assert complete(tmp_path / "out") == old_new[0].files


def test_file_or_link_at_the_path_is_refused_unless_forced_and_a_link_target_survives(tmp_path, old_new):
    (tmp_path / "f").write_text("a file")
    with pytest.raises(UsageError, match=r"f: exists and is not a directory; not replacing it"):
        old_new[0].save(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "a file"
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "keep.txt").write_text("kept")
    os.symlink(tmp_path / "target", tmp_path / "link")
    with pytest.raises(UsageError, match=r"link: is a symbolic link; not replacing it"):
        old_new[0].save(tmp_path / "link")
    old_new[0].save(tmp_path / "link", force=True)
    assert not (tmp_path / "link").is_symlink() and complete(tmp_path / "link") == old_new[0].files
    assert (tmp_path / "target" / "keep.txt").read_text() == "kept"


def test_never_replaces_what_holds_the_model_or_the_current_directory_even_forced(tmp_path, old_new, monkeypatch):
    w = tmp_path / "w"
    w.mkdir()
    save_snnir(mlp([5, 3], seed=1), w / "model.snnir")
    model = (w / "model.snnir").read_bytes()
    for dest in (w, tmp_path, w / "model.snnir"):
        with pytest.raises(UsageError, match="; not replacing it \\(choose another artifact directory path\\)"):
            old_new[0].save(dest, force=True, keep=[w / "model.snnir"])
    assert (w / "model.snnir").read_bytes() == model and os.listdir(w) == ["model.snnir"]
    (w / "sub").mkdir()
    monkeypatch.chdir(w / "sub")
    for dest, held in ((".", "is the current directory"), ("..", "holds the current directory")):
        with pytest.raises(UsageError) as e:
            old_new[0].save(dest, force=True)
        assert str(e.value) == f"{dest}: {held}; not replacing it (choose another artifact directory path)"
    with pytest.raises(UsageError, match="cannot be a file-system root"):
        old_new[0].save("/", force=True)
    assert sorted(os.listdir(w)) == ["model.snnir", "sub"]


def test_file_names_that_leave_the_artifact_are_refused(tmp_path, old_new):
    for bad in ("../escape.json", "/abs.json", "a//b.json", "./x.json"):
        files = {**old_new[0].files, bad: b"{}"}
        with pytest.raises(MalformedInputError, match="is not a relative path inside the artifact"):
            Artifact(files).save(tmp_path / "out")
    assert os.listdir(tmp_path) == []


def test_an_error_while_writing_leaves_the_old_artifact_and_no_temporaries(tmp_path, old_new, monkeypatch):
    old, new = old_new
    old.save(tmp_path / "out")
    calls = []

    def fail_third(path, data, real=fileio.write_new):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device", str(path))
        real(path, data)
    monkeypatch.setattr(fileio, "write_new", fail_third)
    with pytest.raises(UsageError, match=r"cannot write \(No space left on device\)"):
        new.save(tmp_path / "out")
    assert complete(tmp_path / "out") == old.files and os.listdir(tmp_path) == ["out"]


# -- durability: what is fsynced, and when ------------------------------------------------------------
def test_every_file_and_directory_is_fsynced_before_the_swap_and_the_parent_after(tmp_path, old_new, monkeypatch):
    old, new = old_new
    old.save(tmp_path / "out")
    events = []
    real_fsync, real_exchange = os.fsync, fileio._exchange

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def exchange(a, b):
        events.append(("swap", str(a)))
        return real_exchange(a, b)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(fileio, "_exchange", exchange)
    new.save(tmp_path / "out")
    swap = [i for i, (kind, _) in enumerate(events) if kind == "swap"]
    assert len(swap) == 1
    staging = events[swap[0]][1]
    before = {p for _, p in events[:swap[0]]}
    dirs = {os.path.dirname(f"{staging}/{rel}") for rel in new.files} | {staging}
    assert {f"{staging}/{rel}" for rel in new.files} | dirs <= before
    assert ("fsync", str(tmp_path)) in events[swap[0] + 1:]


# -- crashes at every step ------------------------------------------------------------------------
CALLS = ("open", "write", "fsync", "close", "mkdir", "rename", "replace", "unlink", "rmdir")


def crash_at(k: int, action, *, exchange: bool = True) -> tuple[int, list[str] | None]:
    """Run `action` in a forked child that SIGKILLs itself just before its k-th file-system call
    (k < 0: never). Returns (child pid, the calls it made, by name, if it finished, else None)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                                       # the child: never returns
        try:
            os.close(r)
            real = {name: getattr(os, name) for name in CALLS}
            real["fsync"] = lambda fd: None     # counted, not waited for: a kill loses no page cache
            kill, getpid, write, made = os.kill, os.getpid, os.write, []

            def counted(name, fn):
                def call(*args, **kwargs):
                    if len(made) == k:
                        kill(getpid(), signal.SIGKILL)
                    made.append(name)
                    return fn(*args, **kwargs)
                return call
            for name in CALLS:
                setattr(os, name, counted(name, real[name]))
            fileio._exchange = counted("exchange", fileio._exchange if exchange else (lambda a, b: False))
            action()
            write(w, ",".join(made).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    os.waitpid(pid, 0)
    return pid, out.decode().split(",") if out else None


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2-exchange", "two-renames"])
@pytest.mark.parametrize("every", [pytest.param(True, marks=pytest.mark.slow, id="every-call"),
                                   pytest.param(False, id="every-third-and-the-switch")])
def test_kill_at_every_file_system_call_leaves_the_old_or_the_new_artifact(tmp_path, old_new, exchange, every):
    old, new = old_new
    out = tmp_path / "out"
    old.save(out)
    pristine = tmp_path.parent / f"{tmp_path.name}-old"
    shutil.copytree(out, pristine)
    _, made = crash_at(-1, lambda: new.save(out), exchange=exchange)
    assert made and complete(out) == new.files
    calls = len(made)
    switch = made.index("exchange") - 2            # from the last fsync before the switch to the end
    seen = set()
    for k in range(calls + 1) if every else sorted(set(range(0, switch, 4)) | set(range(switch, calls + 1))):
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(pristine, out)
        pid, finished = crash_at(k, lambda: new.save(out), exchange=exchange)
        assert (finished is None) == (k < calls)
        left = [n for n in os.listdir(tmp_path) if n != "out"]
        assert all(re.fullmatch(rf"\.out\.(tmp|old)-{pid}-[0-9a-f]{{8}}", n) for n in left), left
        # with the exchange there is no moment without a whole artifact at `out`; with two renames,
        # the moment between them leaves the old one aside, for the next write to restore
        at_out = complete(out) if exchange or out.exists() else None
        if at_out is None:
            assert sum(n.startswith(f".out.old-{pid}-") for n in left) == 1
        fileio.clean_stale(out)                        # what the next write to the same place does first
        assert os.listdir(tmp_path) == ["out"]
        after = complete(out)
        assert after == (at_out if at_out is not None else old.files)
        assert after in (old.files, new.files)
        seen.add("new" if after == new.files else "old")
    assert seen == {"old", "new"}


def test_stale_temporaries_of_dead_writers_are_cleaned_and_live_ones_kept(tmp_path, old_new):
    old, new = old_new
    old.save(tmp_path / "out")
    dead = dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for name in (f".out.tmp-{dead}", f".out.old-{dead}", f".out.tmp-{dead}-0123abcd"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "half.npz").write_bytes(b"PK")
        (tmp_path / f".out.tmp-{live.pid}-89abcdef").mkdir()
        (tmp_path / f".other.tmp-{dead}").mkdir()              # another destination's: not ours to touch
        new.save(tmp_path / "out")
        assert sorted(os.listdir(tmp_path)) == sorted(["out", f".out.tmp-{live.pid}-89abcdef", f".other.tmp-{dead}"])
        assert complete(tmp_path / "out") == new.files
    finally:
        live.kill()
        live.wait()


def test_a_directory_moved_aside_by_a_dead_writer_is_restored_when_nothing_is_at_the_path(tmp_path, old_new):
    old, new = old_new
    old.save(tmp_path / f".out.old-{dead_pid()}-0123abcd")
    fileio.clean_stale(tmp_path / "out")
    assert os.listdir(tmp_path) == ["out"] and complete(tmp_path / "out") == old.files


# -- a real compile killed at random moments ----------------------------------------------------------
def compile_killed(model, target, out, delay: float, *, after_staging: bool) -> int:
    """Start `snnc compile MODEL -o OUT` and SIGKILL it `delay` seconds after it starts (or after
    its staging directory appears); returns its pid."""
    import time
    p = subprocess.Popen([sys.executable, "-m", "snnc.cli", "compile", str(model), "--target", target,
                          "-o", str(out), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    while after_staging and p.poll() is None and time.monotonic() - start < 120:
        if any(n.startswith(f".{out.name}.tmp-{p.pid}") for n in os.listdir(out.parent)):
            break
        time.sleep(0.0005)
    time.sleep(delay)
    p.send_signal(signal.SIGKILL)
    p.wait()
    return p.pid


def save_seconds(old, new, where) -> float:
    """How long saving `new` onto `old` takes here and now (fsync speed varies with the disk's load)."""
    import time
    old.save(where)
    start = time.monotonic()
    new.save(where)
    return time.monotonic() - start


def check_killed_compiles(tmp_path, graphs, target, kills):
    """Compile graphs[1] onto the artifact of graphs[0], SIGKILLed at each of `kills`: (fraction, True)
    is that fraction of a save's duration after the staging directory appears, (seconds, False) that
    long after the start. The old or the new artifact is at -o, complete, and the next write's clean-up
    leaves nothing else. Returns which one was there, kill by kill."""
    old_model, new_model = tmp_path / "old.snnir", tmp_path / "new.snnir"
    save_snnir(graphs[0], old_model)
    save_snnir(graphs[1], new_model)
    old, new = snnc.compile(old_model, target), snnc.compile(new_model, target)
    save_time = save_seconds(old, new, tmp_path / "timing")
    out = tmp_path / "art" / "out"
    seen = []
    for at, after_staging in kills:
        old.save(out)
        delay = at * save_time if after_staging else at
        pid = compile_killed(new_model, target, out, delay, after_staging=after_staging)
        left = [n for n in os.listdir(out.parent) if n != "out"]
        assert all(re.fullmatch(rf"\.out\.tmp-{pid}-[0-9a-f]{{8}}", n) for n in left), left
        at_out = complete(out)
        assert at_out in (old.files, new.files)
        fileio.clean_stale(out)
        assert os.listdir(out.parent) == ["out"] and complete(out) == at_out
        seen.append("new" if at_out == new.files else "old")
    return seen


def test_compile_killed_at_random_moments_leaves_a_complete_artifact(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    kills = [(float(f), True) for f in rng.uniform(0, 1.3, 3)] + [(float(rng.uniform(0, 1.0)), False)]
    check_killed_compiles(tmp_path, [mlp([20, 30, 10], seed=1), mlp([20, 30, 10], seed=2)], "loihi", kills)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_compile_of_many_files_killed_at_random_moments_leaves_a_complete_artifact(tmp_path, seed):
    import numpy as np
    rng = np.random.default_rng(seed)
    from tests.backends.truenorth.nets import chain, ternary
    graphs = [chain([ternary(np.random.default_rng(s), 600, 200), ternary(np.random.default_rng(s + 9), 10, 600)],
                    theta=2.0) for s in (1, 2)]                    # 57 files
    kills = [(float(f), True) for f in (np.arange(8) + rng.uniform(0, 1, 8)) * 1.3 / 8]   # spread over the save
    kills += [(float(d), False) for d in rng.uniform(0, 3, 2)]
    check_killed_compiles(tmp_path, graphs, "truenorth", kills)


def test_a_directory_that_cannot_be_read_is_not_replaced(tmp_path, old_new, monkeypatch):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("unseen")

    def denied(path="."):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(UsageError) as e:
        old_new[0].save(tmp_path / "out")
    assert str(e.value) == (f"{tmp_path / 'out'}: cannot look inside to check that it is an snnc artifact "
                            f"(Permission denied); not replacing it")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["out"] and (tmp_path / "out" / "x").read_text() == "unseen"
