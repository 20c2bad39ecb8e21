"""The snnc error hierarchy.

Every error a user can cause derives from `SnncError` and carries one message that says
where (file:line:col, or node name plus its origin in the user's model), what went wrong,
and the limit or the expected form. The CLI prints `str(error)` and exits 2 (bad input)
or 1 (a verification finding); library code never prints and never asserts on user input.
"""
from __future__ import annotations


class SnncError(Exception):
    """Base class of every error snnc raises on purpose."""

    exit_code = 2


class UsageError(SnncError):
    """A call or command line that snnc cannot act on (bad option, wrong argument type)."""


class MalformedInputError(SnncError):
    """An input file or object that is not well-formed: names the file and the node or line."""

    def __init__(self, message: str, *, file: str | None = None, where: str | None = None):
        self.file, self.where = file, where
        prefix = ":".join(str(p) for p in (file, where) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ParseError(MalformedInputError):
    """A syntax or semantic error in a `.snnir` text file, located by line and column."""

    def __init__(self, message: str, *, file: str | None, line: int, column: int):
        self.line, self.column = line, column
        super().__init__(message, file=file or "<text>", where=f"{line}:{column}")


class UnsupportedOpError(SnncError):
    """A node of a source model that snnc has no mapping for."""

    def __init__(self, message: str, *, node: str | None = None, op: str | None = None,
                 source: str | None = None, supported: tuple[str, ...] = (), more: tuple[str, ...] = ()):
        self.node, self.op, self.source, self.supported = node, op, source, supported
        self.more = tuple(more)             # further problems, each shown on a line of its own
        parts = [p for p in (source, f"node '{node}'" if node else None,
                             f"op '{op}'" if op else None) if p]
        text = ": ".join([", ".join(parts), message]) if parts else message
        if supported:
            text += f" (supported: {', '.join(supported)})"
        super().__init__(text + "".join(f"\n  {line}" for line in self.more))


class IRVerificationError(SnncError):
    """A graph that breaks an IR rule; names the pass that produced it and each offending node."""

    def __init__(self, diagnostics: list, *, pass_name: str | None = None):
        self.diagnostics = list(diagnostics)
        self.pass_name = pass_name
        head = f"after pass '{pass_name}': " if pass_name else ""
        lines = [str(d) for d in self.diagnostics]
        more = "".join(f"\n  {line}" for line in lines[1:])        # every problem, one per line
        super().__init__(f"{head}{lines[0]}{more}" if lines else f"{head}invalid graph")


class ConstraintViolation(SnncError):
    """A mapping that breaks a target rule: target, rule, core or node, value and limit."""

    exit_code = 1

    def __init__(self, *, target: str, rule: str, where: str, value, limit):
        self.target, self.rule, self.where, self.value, self.limit = target, rule, where, value, limit
        super().__init__(f"{where}: {value} > {limit} allowed ({target}.{rule})")


class SimulationError(SnncError):
    """The interpreter met a state it must not pass silently (overflow in strict mode, bad input)."""


class Guess(UserWarning):
    """A value snnc assumed because its input did not say (a dt, a reset rule, an input coding).

    Its message says what was assumed, where that came from, and how to override it, e.g.
    ``model.nir: no dt stored; assuming dt = 0.001 s (pass --dt or load(..., dt=...))``.
    Library code announces a guess with `announce`; the CLI prints each distinct one once as
    ``snnc: note: ...``; Python callers see an ordinary warning they may filter or record.
    """


def announce(message: str) -> None:
    """Announce a guess (`Guess`); the caller's caller is named as where it was made."""
    import warnings
    warnings.warn(Guess(message), stacklevel=3)
