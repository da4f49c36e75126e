"""The one Jinja2 environment: an immutable sandbox, strict undefined, bounded work."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import BuiltinMethodType, MethodType
from typing import Any, cast

from jinja2 import nodes, pass_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError as JinjaSecurityError
from jinja2.exceptions import TemplateRuntimeError, UndefinedError
from jinja2.runtime import ChainableUndefined, Context, StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from flowctl.expressions.filters import FILTERS
from flowctl.expressions.guards import BINOPS, CheckedFormatter, check_result, prepare_call
from flowctl.expressions.limits import MAX_RANGE, MAX_TEXT, ensure_size, refuse
from flowctl.expressions.runtime import charge, current
from flowctl.expressions.values import Raw, to_text

# Globals used in known sandbox escapes (their __init__.__globals__ reach the os module).
_REMOVED_GLOBALS = ("lipsum", "cycler", "joiner", "namespace")
_LOADING_TAGS = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)
_SIZED = (str, bytes, list, tuple, dict, range)


class FlowctlUndefined(ChainableUndefined, StrictUndefined):
    """Strict: any use fails, naming what is missing (with a did-you-mean). Chainable:
    `steps.x.outputs.y | default(0)` and `is defined` work however deep the gap is."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: Any = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        if isinstance(obj, Undefined):
            # Something asked of an undefined value: report the first gap (and keep a
            # sandbox refusal a refusal).
            hint, name = obj._undefined_hint, obj._undefined_name
            exc, obj = obj._undefined_exception, obj._undefined_obj
        super().__init__(hint, obj, name, exc)

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name, obj = self._undefined_name, self._undefined_obj
        if obj is missing:
            return f"unknown name {name!r}{_suggest(name, _known_names())}"
        if isinstance(obj, Mapping):
            keys = [k for k in obj if isinstance(k, str)]
            return f"no key {name!r} in {_listing(keys)}{_suggest(name, keys)}"
        if isinstance(obj, list | tuple) and isinstance(name, int):
            return f"index {name} is out of range: the list has {len(obj)} items"
        return f"{_describe(obj)} has no attribute {name!r}"


def _known_names() -> list[str]:
    ev = current()
    names = list(ev.names) if ev is not None else []
    return names + list(get_environment().globals)


def _suggest(name: Any, candidates: Iterable[str]) -> str:
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _listing(keys: list[str]) -> str:
    if not keys:
        return "an empty mapping"
    shown = ", ".join(sorted(keys)[:12])
    more = f", ... ({len(keys)} keys)" if len(keys) > 12 else ""
    return f"a mapping with keys {shown}{more}"


def _describe(obj: Any) -> str:
    if obj is None:
        return "null"
    kinds = {str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return kinds.get(type(obj), f"a {type(obj).__name__} value")


@pass_context
def _finalize(context: Context, value: Any) -> str:
    """Every `{{ }}` output: its text, or in a `run:` command a placeholder token."""
    ev = current()
    if ev is not None and ev.shell is not None and not isinstance(value, Raw):
        return ev.shell.token(to_text(value))
    return to_text(value)


def bounded_range(*args: int) -> range:
    """range() with at most MAX_RANGE items, each charged to the budget."""
    rng = range(*args)
    try:
        size = len(rng)
    except OverflowError:
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise refuse(f"range() of more than {MAX_RANGE:,} items is not allowed")
    charge(size)
    return rng


def _charged(func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that charges its work to the budget and has its result's size checked."""
    index = 0 if getattr(func, "jinja_pass_arg", None) is None else 1

    @functools.wraps(func)
    def filter_(*args: Any, **kwargs: Any) -> Any:
        value = args[index] if len(args) > index else None
        charge(1 + len(value) if isinstance(value, _SIZED) else 1)
        result = func(*args, **kwargs)
        ensure_size(result, "the filter's result")
        return result

    return filter_


def _call_environment(method: str, arg: nodes.Expr) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(method), [arg], [], None, None, lineno=arg.lineno)


class _CodeGenerator(CodeGenerator):
    """Jinja's compiler, routing loops, `~` and non-constant literals through the checks."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for tag in node.find_all(_LOADING_TAGS):
            self.fail("extends, include and import are not available in flowctl", tag.lineno)
        for loop in node.find_all(nodes.For):
            loop.iter = _call_environment("flowctl_iter", cast(nodes.Expr, loop.iter))
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.flowctl_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self._made(node, frame, super().visit_List)

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self._made(node, frame, super().visit_Dict)

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx == "store":
            super().visit_Tuple(node, frame)
        else:
            self._made(node, frame, super().visit_Tuple)

    def _made(self, node: Any, frame: Frame, visit: Callable[[Any, Frame], None]) -> None:
        """A literal built at run time may repeat a big value: check its size once built."""
        try:
            node.as_const(frame.eval_ctx)
        except Exception:
            self.write("environment.flowctl_made(")
            visit(node, frame)
            self.write(")")
        else:
            visit(node, frame)


class FlowctlEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox plus bounded arithmetic, sizes, loops and CPU time."""

    intercepted_binops = frozenset(BINOPS)
    code_generator_class = _CodeGenerator

    def __init__(self) -> None:
        super().__init__(
            undefined=FlowctlUndefined,
            autoescape=False,
            finalize=_finalize,
            trim_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        for name in _REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.globals["range"] = bounded_range
        self.filters.update(FILTERS)
        self.filters = {name: _charged(func) for name, func in self.filters.items()}

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            return obj
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return BINOPS[operator](left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Undefined):
            return obj  # report what is missing, not what was asked of it
        # Data first: `outputs.items` or `outputs.count` is the output, not a dict method.
        if type(obj) is dict or isinstance(obj, Mapping):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        if not self.is_safe_callable(obj):
            raise JinjaSecurityError(f"calling {type(obj).__name__} is not allowed")
        owner = getattr(obj, "__self__", None) if isinstance(obj, BuiltinMethodType) else None
        charge(
            1
            + sum(len(a) for a in args if isinstance(a, _SIZED))
            + (len(owner) if isinstance(owner, _SIZED) else 0)
        )
        args, kwargs = prepare_call(obj, args, kwargs)
        result = context.call(obj, *args, **kwargs)
        check_result(result)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format and format_map, sandboxed by Jinja's formatter, bounded by ours."""
        if not isinstance(value, MethodType | BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        is_map = value.__name__ == "format_map"

        def format_(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return str(CheckedFormatter(self).vformat(owner, args, kwargs))

        return format_

    def concat(self, pieces: Iterable[str]) -> str:
        """Joins a template's output (and macro and block bodies), bounded in size."""
        return self.flowctl_concat(pieces)

    def flowctl_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """What every `{% for %}` iterates: the iterable, charging one unit an item."""
        for item in iterable:
            charge(1)
            yield item

    def flowctl_concat(self, pieces: Iterable[Any]) -> str:
        """The `~` operator (and output joins): text of each piece, bounded in total."""
        texts: list[str] = []
        total = 0
        for piece in pieces:
            text = piece if type(piece) is str else to_text(piece)
            total += len(text)
            if total > MAX_TEXT:
                raise refuse(f"the text would be longer than {MAX_TEXT:,} characters")
            texts.append(text)
        return "".join(texts)

    def flowctl_made(self, value: Any) -> Any:
        """A list, tuple or dict literal, checked once built."""
        ensure_size(value, "the literal")
        return value


@functools.cache
def get_environment() -> FlowctlEnvironment:
    """The shared environment, created on first use."""
    return FlowctlEnvironment()
