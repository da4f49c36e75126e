"""SECURITY.md case 2: resource bombs fail fast, in bounded time and memory, with a reason.

Time is the evaluating thread's CPU time, so a busy machine cannot make these flaky; memory
is the growth of the process's peak resident size.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import pytest

from flowctl.errors import ExpressionError, SecurityError
from flowctl.expressions import compile_expression, compile_template, render_shell
from flowctl.expressions.limits import MAX_TEXT

MAX_SECONDS = 2.0
TEXT = f"{MAX_TEXT:,} characters"
MAX_PEAK_GROWTH_MIB = 256


def names() -> dict[str, Any]:
    return {"x": "abc", "steps": {"a": {"outputs": {"n": 3}}}, "workflow": {"l": [1, 2]}}


def peak_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # Linux: KiB


# The CPU budget may stop a size bomb before its size limit does: which comes first depends
# on how fast the interpreter runs (coverage tracing slows it several times). Either one is
# a refusal with a reason; the size reason is what an untraced run usually gives.
CPU_REASON = "it takes more than"


def refused_for(err: ExpressionError, reason: str) -> bool:
    return err.reason.startswith(reason) or err.reason.startswith(CPU_REASON)


def bounded(run: Any) -> ExpressionError:
    """Run a bomb; it must raise within the time and memory bounds; return the error."""
    peak = peak_mib()
    started = time.thread_time()
    with pytest.raises(ExpressionError) as info:
        run()
    assert time.thread_time() - started < MAX_SECONDS
    assert peak_mib() - peak < MAX_PEAK_GROWTH_MIB
    return info.value


EXPRESSION_BOMBS = {
    "7**10000000": "the result of ** would have more than 4096 bits",
    "2**(2**(2**(2**2)))": "the result of ** would have more than 4096 bits",
    "9**(9**(9**9))": "the result of ** would have more than 4096 bits",
    "(2**4000) * (2**4000)": "the result of * would have more than 4096 bits",
    "'a'*10**8": "* would make 100,000,000 characters; at most 1,000,000 are allowed",
    "10**8*'a'": "* would make 100,000,000 characters; at most 1,000,000 are allowed",
    "[1]*10**9": "* would make 1,000,000,000 items; at most 1,000,000 are allowed",
    "(1,)*10**9": "* would make 1,000,000,000 items; at most 1,000,000 are allowed",
    "range(10**9)": "range() of more than 100,000 items is not allowed",
    "range(10**5)|list*10**5": "* would make 10,000,000,000 items; at most 1,000,000 are allowed",
    "[[1]*1000]*1000000": f"the repeated list would be larger than {TEXT}",
    "[[0]*100000]*1000": f"the repeated list would be larger than {TEXT}",
    "'a'|list*10**7": "* would make 10,000,000 items; at most 1,000,000 are allowed",
    "'%s' * 10**6": "* would make 2,000,000 characters; at most 1,000,000 are allowed",
    "'%1000000000d' % 1": "a format width or precision above 1,000,000 is not allowed",
    "'%.999999999f' % 1.0": "a format width or precision above 1,000,000 is not allowed",
    "'%*d' % (10**9, 1)": "'*' widths in % formatting are not supported",
    "('%999999s' * 40) % (('a',) * 40)": (f"the formatted text would be longer than {TEXT}"),
    "'%1000000000s' | format('x')": "a format width or precision above 1,000,000 is not allowed",
    "'{:>1000000000}'.format(1)": "a format width or precision above 1,000,000 is not allowed",
    "'{:{}}'.format(1, 10**9)": "a format width or precision above 1,000,000 is not allowed",
    "('{0:999999}' * 40).format(1)": (f"the formatted text would be longer than {TEXT}"),
    "'a'.center(10**9)": "padding to more than 1,000,000 characters is not allowed",
    "'a'.ljust(10**9)": "padding to more than 1,000,000 characters is not allowed",
    "'a'.rjust(10**9)": "padding to more than 1,000,000 characters is not allowed",
    "'a'.zfill(10**9)": "padding to more than 1,000,000 characters is not allowed",
    "'a'|center(10**9)": "a center width above 1,000,000 is not allowed",
    "'a'|indent(10**9)": "an indent width above 1,000,000 is not allowed",
    "('\\n'*999999)|indent(100)": f"indent would make more than {TEXT}",
    "('ab'*400000)|wordwrap(1, wrapstring='x'*100)": (f"wordwrap would make more than {TEXT}"),
    "'\\t'.expandtabs(10**9)": f"expandtabs would make more than {TEXT}",
    "('a'*10**6).replace('a', 'a'*100)": f"replace would make more than {TEXT}",
    "('a'*10**6)|replace('a', 'a'*100)": f"replace would make more than {TEXT}",
    "('a'*10**6).encode().replace('a'.encode(), ('a'*100).encode())": (
        f"replace would make more than {TEXT}"
    ),
    "('x'*999999).translate({120: 'z' * 40})": (f"translate would make more than {TEXT}"),
    "('y'*999999).join('a' * 40)": f"join would make more than {TEXT}",
    "('x'*999999)|list|join('y'*100)": f"join would make more than {TEXT}",
    "(1).to_bytes(10**9, 'big')": "to_bytes of more than 1,000,000 bytes is not allowed",
    "[1]|batch(10**9, 'x')|list": "a batch size with a fill value above 1,000,000 is not allowed",
    "[1]|slice(10**9)|list": "a number of slices above 1,000,000 is not allowed",
    "{}.fromkeys(range(100000), 'x'*999999)": (f"the result would be larger than {TEXT}"),
    "([range(10**5)|list]*1000)|sum(start=[])": (f"the repeated list would be larger than {TEXT}"),
    "([range(10**5)|list] * 11)|sum(start=[])": ("sum would make more than 1,000,000 items"),
    " ~ ".join(["('a'*999999)"] * 33): (f"the text would be longer than {TEXT}"),
    "[('a'*999999)]*17 + [('a'*999999)]*17": "the result of + would be larger than",
    "range(10**5)|list|tojson(indent=100)": "tojson indent must be a number from 0 to 8",
}


@pytest.mark.slow
@pytest.mark.parametrize("source", sorted(EXPRESSION_BOMBS))
def test_expression_bomb(source: str) -> None:
    err = bounded(lambda: compile_expression(source).evaluate(names()))
    assert refused_for(err, EXPRESSION_BOMBS[source]), err.reason


def test_the_brief_bombs_are_security_errors() -> None:
    for source in [
        "7**10000000",
        "'a'*10**8",
        "[1]*10**9",
        "range(10**9)",
        "range(10**5)|list*10**5",
    ]:
        assert isinstance(
            bounded(lambda s=source: compile_expression(s).evaluate({})), SecurityError
        )


def test_constant_folding_does_not_compute_a_huge_power() -> None:
    # Jinja folds constant expressions at compile time, where nothing could interrupt
    # 7**10000000; intercepted operators are not folded, so compiling is instant.
    started = time.thread_time()  # CPU time: other processes on the machine do not count
    expression = compile_expression("7**10000000 > 1")
    compile_template("{{ 7**10000000 }}{{ 'a'*10**9 }}")
    assert time.thread_time() - started < MAX_SECONDS
    with pytest.raises(SecurityError):
        expression.evaluate({})


def test_left_to_right_power_tower_is_small() -> None:
    # Jinja's ** binds left to right: ((((2**2)**2)**2)**2) is 65536, not a bomb.
    assert compile_expression("2**2**2**2**2").evaluate({}) == 65536


TEMPLATE_BOMBS = {
    "nested loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "it takes more than",
    ),
    "nested loops with output": (
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "it takes more than",
    ),
    "exponential macro": (
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% else %}x{% endif %}"
        "{% endmacro %}{{ f(40) }}",
        "it takes more than",
    ),
    "doubling macro": (
        "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n-1) }}{% else %}{{ s|length }}{% endif %}"
        "{% endmacro %}{{ f('a', 60) }}",
        "it takes more than 10,000,000 operations",
    ),
    "endless recursion": (
        "{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(1) }}",
        "it is nested too deeply (recursion limit)",
    ),
    "recursive loop": (
        "{% for x in [1] recursive %}{{ loop(range(100000)|list) }}{% endfor %}",
        "it takes more than",
    ),
    "big compare in a loop": (
        "{% set a = range(100000)|list %}{% for i in a %}{% if a == a|list %}{% endif %}"
        "{% endfor %}",
        "it takes more than",
    ),
    "nested literals": (
        "{% set a = ['x'*999999] %}{% set b = [a,a,a,a,a,a,a,a,a,a] %}"
        "{% set c = [b,b,b,b,b,b,b,b,b,b] %}{{ c|length }}",
        f"the literal would be larger than {TEXT}",
    ),
    "big output": (
        "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}",
        f"the text would be longer than {TEXT}",
    ),
    "big set block": (
        "{% set s %}{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}{{ s }}",
        f"the text would be longer than {TEXT}",
    ),
    "big filter block": (
        "{% filter upper %}{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}{% endfilter %}",
        f"the text would be longer than {TEXT}",
    ),
    "many ranges": (
        "{% for i in range(1000) %}{{ range(100000)|length }}{% endfor %}",
        "it takes more than 10,000,000 operations",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TEMPLATE_BOMBS))
def test_template_bomb(name: str) -> None:
    source, reason = TEMPLATE_BOMBS[name]
    err = bounded(lambda: compile_template(source).render(names()))
    assert refused_for(err, reason), err.reason


def test_bombs_in_a_shell_command_fail_before_anything_runs() -> None:
    err = bounded(lambda: render_shell("echo {{ 'a' * 10**8 }}", names()))
    assert isinstance(err, SecurityError)


def test_a_deeply_nested_expression_is_an_error() -> None:
    source = "(" * 5000 + "1" + ")" * 5000
    err = bounded(lambda: compile_expression(source))
    assert err.reason == "it is nested too deeply (recursion limit)"


def test_work_below_the_limits_is_fine() -> None:
    assert compile_expression("(range(10**5)|list|length) * 10").evaluate({}) == 10**6
    assert len(compile_expression("'ab' * 500000").evaluate({})) == 10**6
    text = compile_template("{% for i in range(1000) %}{{ i }},{% endfor %}").render({})
    assert text.startswith("0,1,2,")
