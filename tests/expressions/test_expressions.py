"""Expressions and templates: values, filters, names, errors, conditions, render_json."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.errors import ExpressionError, SecurityError
from flowctl.expressions import (
    compile_expression,
    compile_template,
    evaluate_condition,
    is_template,
    render_json,
)


def names() -> dict[str, Any]:
    return {
        "steps": {
            "ocr": {
                "status": "completed",
                "attempts": 1,
                "outputs": {
                    "n": 5,
                    "text": "hello world",
                    "pages": [1, 2, 3],
                    "items": ["a", "b"],
                    "count": 7,
                    "meta": {"lang": "en"},
                },
            }
        },
        "workflow": {"order": {"id": 42}, "threshold": 0.8, "empty": [], "flag": False},
        "inputs": {"document": "doc.pdf"},
        "item": "x",
        "index": 0,
    }


def ev(source: str, scope: dict[str, Any] | None = None) -> Any:
    return compile_expression(source).evaluate(names() if scope is None else scope)


def render(source: str, scope: dict[str, Any] | None = None) -> str:
    return compile_template(source).render(names() if scope is None else scope)


def failure(source: str, scope: dict[str, Any] | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError) as info:
        ev(source, scope)
    return info.value


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("7 // 2", 3),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("2 ** 10", 1024),
        ("-3 + 1", -2),
        ("'ab' * 3", "ababab"),
        ("[1, 2] * 2", [1, 2, 1, 2]),
        ("'a' ~ 1 ~ none ~ true", "a1true"),
        ("[1] + [2]", [1, 2]),
        ("'%s-%03d' % ('x', 7)", "x-007"),
        ("'{}/{}'.format('a', 1)", "a/1"),
        ("2 ** 2 ** 2 ** 2 ** 2", 65536),  # Jinja's ** binds left to right
    ],
)
def test_arithmetic(source: str, expected: Any) -> None:
    assert ev(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("steps.ocr.outputs.n > 3", True),
        ("steps.ocr.outputs.n >= 6", False),
        ("steps.ocr.status == 'completed'", True),
        ("1 < steps.ocr.outputs.n < 10", True),
        ("'b' in steps.ocr.outputs.items", True),
        ("'z' not in steps.ocr.outputs.items", True),
        ("workflow.threshold < 1 and not workflow.flag", True),
        ("workflow.order.id is number", True),
        ("steps.ocr.outputs.missing is defined", False),
        ("steps.nope.outputs.deep.path is defined", False),
    ],
)
def test_comparisons_and_tests(source: str, expected: bool) -> None:
    assert ev(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("steps.ocr.outputs.pages | length", 3),
        ("steps.ocr.outputs.missing | default('none')", "none"),
        ("steps.nope.outputs.deep | default(0)", 0),
        ("steps.ocr.outputs.pages | join(',')", "1,2,3"),
        ("[1, true, none] | join('|')", "1|true|"),
        ("'12' | int + 1", 13),
        ("steps.ocr.outputs.text | upper", "HELLO WORLD"),
        ("steps.ocr.outputs.pages | map('string') | list", ["1", "2", "3"]),
        ("steps.ocr.outputs.pages | select('odd') | list", [1, 3]),
        ("steps.ocr.outputs.meta | tojson", '{"lang": "en"}'),
        ("steps.ocr.outputs.pages | sum", 6),
        ("'%s=%s' | format('a', 1)", "a=1"),
        ("'a-b' | replace('-', '+')", "a+b"),
        ("steps.ocr.outputs.text | string", "hello world"),
    ],
)
def test_filters(source: str, expected: Any) -> None:
    assert ev(source) == expected


def test_nested_names_with_attribute_and_item_syntax() -> None:
    assert ev("steps.ocr.outputs.meta.lang") == "en"
    assert ev("steps['ocr']['outputs']['meta']['lang']") == "en"
    assert ev("workflow['order'].id") == 42
    assert ev("steps.ocr.outputs.pages[1]") == 2
    assert ev("item ~ index") == "x0"


def test_data_keys_win_over_dict_methods() -> None:
    # An output named `items`, `count` or `values` is the output, not a dict method.
    assert ev("steps.ocr.outputs.items") == ["a", "b"]
    assert ev("steps.ocr.outputs.count") == 7
    assert ev("workflow.order.keys() | list") == ["id"]


def test_results_are_plain_data() -> None:
    assert ev("range(3)") == [0, 1, 2]
    assert ev("steps.ocr.outputs.items | map('upper')") == ["A", "B"]
    assert ev("(1, 2)") == [1, 2]
    assert ev("{'a': (1,)}") == {"a": [1]}
    assert type(ev("'x' | e")) is str
    assert ev("none") is None


def test_a_function_is_not_data() -> None:
    err = failure("steps.ocr.outputs.text.upper")
    assert err.reason == "the result is the function 'upper', not data (call it with ())"


def test_unknown_name_is_named_with_a_suggestion() -> None:
    err = failure("stpes.ocr.outputs.n > 3")
    assert str(err) == (
        "expression 'stpes.ocr.outputs.n > 3' failed: unknown name 'stpes'; did you mean 'steps'?"
    )


def test_missing_key_lists_the_keys_and_suggests() -> None:
    err = failure("steps.ocr.outputs.tetx == 'a'")
    assert err.reason == (
        "no key 'tetx' in a mapping with keys count, items, meta, n, pages, text;"
        " did you mean 'text'?"
    )
    assert failure("steps.ocr.outputs.meta.x + 1").reason == (
        "no key 'x' in a mapping with keys lang"
    )


def test_missing_step_is_reported_where_the_path_breaks() -> None:
    err = failure("steps.ocr2.outputs.n > 1")
    assert err.reason == "no key 'ocr2' in a mapping with keys ocr; did you mean 'ocr'?"


def test_index_out_of_range() -> None:
    assert failure("steps.ocr.outputs.pages[5] + 1").reason == (
        "index 5 is out of range: the list has 3 items"
    )


def test_an_undefined_result_is_an_error_not_none() -> None:
    assert failure("workflow.nothing").reason == (
        "no key 'nothing' in a mapping with keys empty, flag, order, threshold"
    )


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("1 / 0", "division by zero"),
        ("1 + 'a'", "unsupported operand type(s) for +: 'int' and 'str'"),
        ("10.0 ** 400", "a number is too large"),
        ("steps.ocr.outputs.n +", "syntax error: unexpected end of the expression"),
        ("a b", "syntax error: unexpected 'b' after the expression"),
        ("steps.ocr.outputs.text | nosuchfilter", "syntax error: No filter named 'nosuchfilter'"),
    ],
)
def test_errors_have_plain_reasons(source: str, reason: str) -> None:
    err = failure(source)
    assert type(err) is ExpressionError
    assert err.reason == reason
    assert err.expression == source


def test_template_syntax_error_names_the_line() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_template("line one\n{% if x %}\nno end")
    assert info.value.reason == (
        "syntax error: Unexpected end of template. Jinja was looking for the following tags:"
        " 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'"
        " (line 3)"
    )


def test_template_values_print_as_json_like_text() -> None:
    scope = {"n": None, "t": True, "f": False, "l": [1, "a"], "d": {"k": "v"}, "x": 1.5}
    text = render("{{ n }}|{{ t }}|{{ f }}|{{ l }}|{{ d }}|{{ x }}", scope)
    assert text == '|true|false|[1, "a"]|{"k": "v"}|1.5'


def test_template_blocks_and_trailing_newline() -> None:
    source = "{% for p in steps.ocr.outputs.pages %}\npage {{ p }}\n{% endfor %}\ndone\n"
    assert render(source) == "page 1\npage 2\npage 3\ndone\n"


def test_template_unknown_name_fails() -> None:
    with pytest.raises(ExpressionError) as info:
        render("hello {{ nme }}", {"name": "x"})
    assert info.value.reason == "unknown name 'nme'; did you mean 'name'?"


def test_template_loading_tags_are_refused() -> None:
    for source in ("{% include 'x' %}", "{% extends 'x' %}", "{% import 'x' as y %}"):
        with pytest.raises(ExpressionError) as info:
            compile_template(source)
        assert "extends, include and import are not available" in info.value.reason


def test_is_template() -> None:
    assert is_template("a {{ b }}")
    assert is_template("{% if a %}x{% endif %}")
    assert not is_template("plain { text } $HOME")


def test_compiled_results_are_cached() -> None:
    assert compile_expression("1 + 1") is compile_expression("1 + 1")
    assert compile_template("{{ 1 }}") is compile_template("{{ 1 }}")


def test_names_are_not_changed_by_evaluation() -> None:
    scope = names()
    before = copy.deepcopy(scope)
    ev("steps.ocr.outputs.pages | reverse | list", scope)
    ev("steps.ocr.outputs.pages | sort(reverse=true)", scope)
    assert scope == before


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("true", True),
        ("false", False),
        ("none", False),
        ("0", False),
        ("2", True),
        ("0.0", False),
        ("workflow.empty", False),
        ("steps.ocr.outputs.pages", True),
        ("{}", False),
        ("steps.ocr.outputs.meta", True),
        ("{{ workflow.flag }}", False),
        ("{{ steps.ocr.outputs.n > 3 }}", True),
    ],
)
def test_evaluate_condition(source: str, expected: bool) -> None:
    assert evaluate_condition(source, names()) is expected


def test_a_string_condition_is_an_error() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_condition("'False'", names())
    assert info.value.reason == (
        "it evaluates to the string 'False', not a boolean; compare explicitly, e.g. x == 'yes'"
    )


def test_a_failing_condition_is_an_error_not_false() -> None:
    with pytest.raises(ExpressionError):
        evaluate_condition("steps.missing.status == 'completed'", names())


def test_render_json_keeps_native_types() -> None:
    body = {
        "id": "{{ workflow.order.id }}",
        "pages": "{{ steps.ocr.outputs.pages }}",
        "flag": "{{workflow.flag}}",
        "none": "{{ none }}",
        "label": "order {{ workflow.order.id }}",
        "padded": " {{ workflow.order.id }}",
        "nested": [{"x": "{{ steps.ocr.outputs.n * 2 }}"}, 3, None, True],
        "{{ inputs.document }}": "key rendered",
        "plain": "no template {here}",
    }
    assert render_json(body, names()) == {
        "id": 42,
        "pages": [1, 2, 3],
        "flag": False,
        "none": None,
        "label": "order 42",
        "padded": " 42",
        "nested": [{"x": 10}, 3, None, True],
        "doc.pdf": "key rendered",
        "plain": "no template {here}",
    }


def test_render_json_two_expressions_make_a_string() -> None:
    assert render_json("{{ workflow.order.id }}{{ index }}", names()) == "420"


def test_render_json_reports_the_failing_string() -> None:
    with pytest.raises(ExpressionError) as info:
        render_json({"a": ["{{ workflow.nope }}"]}, names())
    assert info.value.expression == "{{ workflow.nope }}"


def test_raw_outside_a_shell_is_plain_text() -> None:
    assert render("{{ l | raw }}", {"l": [1]}) == "[1]"


@settings(max_examples=40, deadline=None)
@given(
    a=st.integers(-(10**6), 10**6),
    b=st.integers(-(10**6), 10**6),
    c=st.integers(1, 10**3),
)
def test_integer_arithmetic_matches_python(a: int, b: int, c: int) -> None:
    scope = {"a": a, "b": b, "c": c}
    assert ev("a * b - a // c + b % c + c ** 3", scope) == a * b - a // c + b % c + c**3
    assert ev("a < b", scope) is (a < b)


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=30))
def test_strings_pass_through_unchanged(text: str) -> None:
    assert ev("s", {"s": text}) == text
    assert render("{{ s }}", {"s": text}) == text
    assert render_json("{{ s }}", {"s": text}) == text


def test_evaluations_in_threads_keep_their_own_names() -> None:
    results: dict[int, list[Any]] = {}

    def work(n: int) -> None:
        results[n] = [ev("n * 2", {"n": n}) for _ in range(200)]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {n: [n * 2] * 200 for n in range(4)}


def test_security_error_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError) as info:
        ev("''.__class__")
    assert isinstance(info.value, SecurityError)
