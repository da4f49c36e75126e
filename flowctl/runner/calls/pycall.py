"""Resolve a literal "package.module:function" reference to a callable, once per process."""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from flowctl.errors import FlowctlError

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_REFERENCE = re.compile(rf"^({_IDENT}(?:\.{_IDENT})*):({_IDENT}(?:\.{_IDENT})*)$")


class PythonRefError(FlowctlError):
    """A `python:` reference cannot be used: bad syntax, import failure, not a callable."""


class PythonTarget(Struct, frozen=True):
    """A resolved callable and how to call it."""

    reference: str
    function: Callable[..., Any]
    is_async: bool
    accepts_ctx: bool  # it has a parameter named `ctx`
    signature: inspect.Signature | None  # None when Python cannot tell (some builtins)
    # It can be called without params (checked once: most steps pass none, and binding a
    # signature costs as much as the rest of calling a no-op).
    binds_empty: bool = False

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Fail before calling when the params cannot bind (a spec bug, never retried)."""
        if self.signature is None or (self.binds_empty and not params):
            return
        kwargs = dict(params)
        if self.accepts_ctx:
            kwargs["ctx"] = None
        try:
            self.signature.bind(**kwargs)
        except TypeError as exc:
            raise PythonRefError(f"{self.reference} cannot be called with params: {exc}") from None


def ensure_on_sys_path(directory: Path) -> None:
    """Make the modules in `directory` importable (the workflow file's directory)."""
    entry = str(directory.resolve())
    if entry not in sys.path:
        # Appended, not prepended: a `json.py` next to a workflow must not replace the
        # standard library for flowctl itself.
        sys.path.append(entry)


def resolve(reference: str) -> PythonTarget:
    """The callable named by "package.module:function" (attribute paths allowed after ':').

    Modules are imported from `sys.path`; the runner adds the workflow file's directory
    (`ensure_on_sys_path`) so a spec can call the modules next to it. The reference is
    never a template, so a hostile input value cannot choose what is imported.
    """
    return _resolve(reference.strip())


@functools.lru_cache(maxsize=1024)
def _resolve(reference: str) -> PythonTarget:
    # lru_cache does not keep exceptions: a failed import is tried again next time.
    match = _REFERENCE.match(reference)
    if match is None:
        raise PythonRefError(
            f"python: {reference!r} is not of the form 'package.module:function'"
            + (" (templates are not allowed here)" if "{" in reference else "")
        )
    module_name, attr_path = match.groups()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise PythonRefError(
                f"python: cannot import module {module_name!r}: no module named {exc.name!r} "
                "(modules are looked up on sys.path and in the workflow file's directory)"
            ) from None
        raise PythonRefError(
            f"python: importing {module_name!r} failed: ModuleNotFoundError: {exc}"
        ) from None
    except Exception as exc:  # the module's own code raised while being imported
        raise PythonRefError(
            f"python: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    target: Any = module
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise PythonRefError(
                f"python: {reference!r}: module {module_name!r} has no attribute {attr_path!r}"
            ) from None
    if not callable(target):
        raise PythonRefError(f"python: {reference!r} is a {type(target).__name__}, not a function")
    try:
        signature: inspect.Signature | None = inspect.signature(target)
    except (TypeError, ValueError):
        signature = None
    accepts_ctx = signature is not None and "ctx" in signature.parameters
    call = getattr(target, "__call__", None)  # noqa: B004 - async __call__ on objects
    is_async = inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(call)
    target_info = PythonTarget(reference, target, is_async, accepts_ctx, signature)
    try:
        target_info.check_params({})
    except PythonRefError:
        return target_info
    return replace(target_info, binds_empty=True)
