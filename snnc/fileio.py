"""Writing files and directories so that neither a reader nor a crash ever sees half of one.

Every writer stages its output in a temporary sibling of the destination, in the same
directory (so the final rename never crosses a file system), named `.NAME.tmp-PID-XXXXXXXX`
after the destination NAME and the writing process. The staged bytes are fsynced (each file,
then each directory bottom-up), renamed onto the destination, and the destination's parent
directory is fsynced, so after the call returns the new content survives a power loss.

Replacing a directory (`replace_dir`) swaps the complete new directory with the old one in a
single `renameat2(RENAME_EXCHANGE)` (Linux 3.15+, on ext4, xfs, btrfs, tmpfs and most local
file systems): at every instant the destination path holds either the whole old directory or
the whole new one. The old one then sits under the temporary name and is removed last.
Where the exchange is unavailable, the old directory is renamed aside to `.NAME.old-PID-...`
and the new one renamed in; a crash between those two renames leaves nothing at the path, and
the next write to the same place renames the old one back before doing anything else.

A process killed by SIGKILL cannot clean up: it may leave its `.NAME.tmp-PID-...` (a partial
new directory, or the complete old one it swapped out) beside the destination. The next write
to the same destination removes every `.NAME.tmp-*` and `.NAME.old-*` entry whose PID is not
a running process on this host (entries of live processes are left alone).
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Callable, Iterator

from snnc.errors import UsageError

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


# -- paths -------------------------------------------------------------------------------------
def absolute(path) -> Path:
    """`path` made absolute with '.' and '..' folded, its parent's symlinks resolved but not
    the last component's (a link at the destination is replaced, not followed)."""
    p = Path(os.path.abspath(path))
    return p if p == p.parent else Path(os.path.realpath(p.parent)) / p.name


def refuse_if_holds(path, keep, *, what: str = "output") -> None:
    """Raise `UsageError` if writing at `path` would replace the current directory, one of
    its ancestors, or anything in `keep` (the files a command reads) or a directory holding one."""
    target = absolute(path)
    if target == target.parent:
        raise UsageError(f"{path}: the {what} cannot be a file-system root")
    for label, p in [("the current directory", Path.cwd())] + [(str(k), Path(k)) for k in keep]:
        for candidate in {absolute(p), Path(os.path.realpath(p))}:
            if candidate == target or target in candidate.parents:
                held = "is" if candidate == target else "holds"
                raise UsageError(f"{path}: {held} {label}; not replacing it (choose another {what} path)")


# -- temporaries -------------------------------------------------------------------------------
def _temp_name(final: Path, kind: str = "tmp") -> Path:
    return final.parent / f".{final.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _stale(final: Path) -> list[tuple[str, Path]]:
    """(kind, path) of every `.NAME.tmp-PID*` / `.NAME.old-PID*` beside `final` whose PID is dead."""
    pattern = re.compile(rf"\.{re.escape(final.name)}\.(tmp|old)-(\d+)(-[0-9a-f]+)?")
    found = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(final.parent):
            m = pattern.fullmatch(entry.name)
            if m and not _running(int(m.group(2))):
                found.append((m.group(1), Path(entry.path)))
    return sorted(found)


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True           # someone else's process (or not a pid we can ask about): leave it
    return True


def clean_stale(final) -> None:
    """Restore a directory moved aside by a writer that died mid-replace (if nothing is at
    `final`), then remove every other temporary of dead writers beside `final`."""
    final = absolute(final)
    stale = _stale(final)
    if not os.path.lexists(final):
        aside = [p for kind, p in stale if kind == "old"]
        if aside:
            os.rename(aside[0], final)
            _fsync_dir(final.parent)
    for _, p in _stale(final):
        remove(p)


def remove(path: Path) -> None:
    """Remove a file, a link (not what it points to) or a directory tree; absent is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# -- durability --------------------------------------------------------------------------------
def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every regular file under `root`, then every directory from the leaves up."""
    dirs = []
    for here, _, files in os.walk(root):
        dirs.append(Path(here))
        for name in files:
            p = Path(here) / name
            if p.is_file() and not p.is_symlink():
                fd = os.open(p, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
    for d in reversed(dirs):
        _fsync_dir(d)


def write_new(path: Path, data: bytes) -> None:
    """Create `path` (it must not exist) holding `data`, fsynced."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _os_errors(path) -> Iterator[None]:
    """OSError while writing `path` (no space, no permission, read-only) as a one-line UsageError
    that names `path`, as the user gave it, not the temporary the error came from."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror or exc})") from None


# -- the switch --------------------------------------------------------------------------------
def _exchange(a: Path, b: Path) -> bool:
    """Swap the entries at `a` and `b` in one atomic step; False where the system cannot."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError, TypeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _switch(new: Path, final: Path) -> None:
    """Put the complete `new` at `final`; whatever was at `final` ends up at `new` or is removed."""
    if not os.path.lexists(final):
        os.rename(new, final)
    elif not _exchange(new, final):
        aside = _temp_name(final, "old")
        os.rename(final, aside)          # a crash here leaves `aside`; clean_stale renames it back
        os.rename(new, final)
        _fsync_dir(final.parent)
        remove(aside)
        return
    _fsync_dir(final.parent)


def replace_dir(path, fill: Callable[[Path], None], *, check: Callable[[], None] | None = None) -> Path:
    """Write a directory at `path`: `fill(staging)` writes its content into an empty staging
    directory beside `path`; once complete and fsynced it replaces what is at `path` (see the
    module docstring for the guarantee). `check()` runs before anything is touched and again
    just before the switch, and may refuse by raising. Returns `path` made absolute."""
    final = absolute(path)
    if check is not None:
        check()
    with _os_errors(path):
        final.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(final)
    staging = _temp_name(final)
    try:
        with _os_errors(path):
            staging.mkdir()
            fill(staging)
            fsync_tree(staging)
        if check is not None:
            check()
        with _os_errors(path):
            _switch(staging, final)
    finally:
        remove(staging)                  # the old directory after a swap, or a partial new one
    return final


# -- files -------------------------------------------------------------------------------------
def _prepare_file(path) -> Path:
    final = absolute(path)
    if final.is_dir():
        raise UsageError(f"{path}: is a directory (expected a file name)")
    with _os_errors(path):
        final.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(final)
    return final


@contextlib.contextmanager
def atomic_file(path) -> Iterator:
    """A binary file object whose bytes appear at `path` (exactly that name) only once the
    block finishes without error, complete and fsynced; an error leaves `path` as it was."""
    final = _prepare_file(path)
    tmp = _temp_name(final)
    try:
        with _os_errors(path):
            with open(tmp, "xb") as f:
                yield f
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
            _fsync_dir(final.parent)
    finally:
        remove(tmp)


def write_file(path, data: bytes) -> None:
    """Write `data` to `path` atomically (see `atomic_file`)."""
    with atomic_file(path) as f:
        f.write(data)


@contextlib.contextmanager
def staged_files(path) -> Iterator[Path]:
    """A path with the name of `path` inside an empty staging directory, for a writer that may
    also write companion files beside it (a .snnir's .npz sidecar). When the block finishes
    without error, every file written there is fsynced and renamed beside `path`, companions
    first and `path` itself last; an error leaves every destination as it was."""
    final = _prepare_file(path)
    staging = _temp_name(final)
    try:
        with _os_errors(path):
            staging.mkdir()
            yield staging / final.name
            fsync_tree(staging)
            names = sorted(p.name for p in staging.iterdir() if p.is_file() and p.name != final.name)
            for name in names + [final.name]:
                if (final.parent / name).is_dir():
                    raise UsageError(f"{final.parent / name}: is a directory (expected a file name)")
                os.replace(staging / name, final.parent / name)
            _fsync_dir(final.parent)
    finally:
        remove(staging)
