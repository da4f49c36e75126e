"""The rules of loop labels: which items name themselves, collisions, and both id forms."""

from __future__ import annotations

import pytest

from flowctl.runner.looplabels import (
    MAX_LABEL,
    default_label,
    is_plain,
    labelled,
    loop_labels,
    unlabelled,
)


@pytest.mark.parametrize(
    ("item", "label"),
    [
        ("lapi.c", "lapi.c"),
        ("src/a-b_c.py", "src/a-b_c.py"),
        (1.5, "1.5"),
        (-3, "-3"),
        (True, "true"),
        (7, "0"),  # digits only would read as an index
        ("7", "0"),
        ("has space", "0"),
        ("a[1]", "0"),
        ("a#1", "0"),
        ("x" * (MAX_LABEL + 1), "0"),
        ("", "0"),
        ({"name": "core"}, "0"),
        (["a"], "0"),
        (None, "0"),
        ("tab\there", "0"),
    ],
)
def test_default_label(item: object, label: str) -> None:
    assert default_label(item, 0) == label


def test_is_plain_accepts_at_most_max_label_characters() -> None:
    assert is_plain("x" * MAX_LABEL)
    assert not is_plain("x" * (MAX_LABEL + 1))


def test_collisions_get_their_index_and_index_labels_never_collide() -> None:
    assert loop_labels(["a", "b", "a", {"k": 1}, "a b"]) == ["a#0", "b", "a#2", "3", "4"]


def test_a_rendered_label_that_is_not_plain_falls_back_to_the_index() -> None:
    names = {0: "core", 1: "two words", 2: "core"}
    assert loop_labels([None, None, None], lambda _item, i: names[i]) == ["core#0", "1", "core#2"]


def test_labelled_and_unlabelled_are_inverse_including_nested_loops() -> None:
    labels = {"compile": ["lapi.c", "b"], "compile[1].inner": ["z"]}
    pairs = [
        ("compile[0].cc", "compile[lapi.c].cc"),
        ("compile[1].inner[0].x", "compile[b].inner[z].x"),
        ("compile[1]", "compile[b]"),
        ("plain", "plain"),
        ("other[0].y", "other[0].y"),  # a loop without labels (a while loop)
        ("compile[9].cc", "compile[9].cc"),  # not (yet) labelled
    ]
    for stable, shown in pairs:
        assert labelled(stable, labels) == shown
        assert unlabelled(shown, labels) == stable
        assert unlabelled(stable, labels) == stable  # the index form is always accepted
