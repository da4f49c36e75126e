"""SecretMasker: every form of a secret becomes *** in text, JSON and chunked streams."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowctl.errors import FlowctlError
from flowctl.secrets import MASK, SecretMasker, SecretTooShortError

# "+" and "/" in the secret's base64 and characters every escaping scheme must change.
SECRET = 'p@ss/w+rd "q" ü~?>'
SECRET_BYTES = SECRET.encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def urlsafe(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


FORMS = {
    "raw": SECRET,
    "base64": b64(SECRET_BYTES),
    "base64 unpadded": b64(SECRET_BYTES).rstrip("="),
    "urlsafe base64": urlsafe(SECRET_BYTES),
    "urlsafe base64 unpadded": urlsafe(SECRET_BYTES).rstrip("="),
    "json escaped": json.dumps(SECRET)[1:-1],
    "json escaped utf-8": json.dumps(SECRET, ensure_ascii=False)[1:-1],
    "quote": quote(SECRET),
    "quote safe none": quote(SECRET, safe=""),
    "quote_plus": quote_plus(SECRET),
    # Other encoders write lowercase escapes (%c3%bc); the secret's letters are lowercase.
    "quote lower hex": quote(SECRET, safe="").lower(),
}


def test_the_forms_used_below_really_differ_from_the_raw_value() -> None:
    assert "+" in b64(SECRET_BYTES) or "/" in b64(SECRET_BYTES)
    assert len(set(FORMS.values())) >= 9


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_is_masked_in_console_text(form: str) -> None:
    masker = SecretMasker([SECRET])
    line = f"12:00:01 INFO calling api token={FORMS[form]} status=ok"
    assert masker.mask(line) == "12:00:01 INFO calling api token=*** status=ok"


@pytest.mark.parametrize("prefix_len", range(6))
@pytest.mark.parametrize("suffix_len", range(4))
@pytest.mark.parametrize("encode", [b64, urlsafe])
def test_secret_inside_a_larger_base64_blob_is_masked_at_every_alignment(
    prefix_len: int, suffix_len: int, encode: Callable[[bytes], str]
) -> None:
    prefix, suffix = b"Authorization: Basic "[:prefix_len], b"\x00\xff\x10"[:suffix_len]
    blob = encode(prefix + SECRET_BYTES + suffix)
    # The characters whose 6 bits all come from the secret: they are the same whatever
    # surrounds it, and must not survive.
    start = -(-8 * prefix_len // 6)
    end = (8 * (prefix_len + len(SECRET_BYTES))) // 6
    middle = blob[start:end]
    masked = SecretMasker([SECRET]).mask(blob)
    assert MASK in masked
    assert middle not in masked
    assert len(masked) <= len(blob) - len(middle) + len(MASK)


def test_the_whole_padded_encoding_wins_over_its_own_prefix() -> None:
    masker = SecretMasker(["abcd"])
    assert masker.mask("x YWJjZA== y") == "x *** y"  # not "x ***A== y"


def test_short_secrets_are_refused_with_a_clear_message() -> None:
    with pytest.raises(SecretTooShortError) as info:
        SecretMasker(["abc"])
    assert str(info.value) == (
        "a secret value is shorter than 4 characters; it cannot be masked without mangling "
        "ordinary output, so it is refused"
    )
    assert isinstance(info.value, FlowctlError)
    masker = SecretMasker()
    with pytest.raises(SecretTooShortError, match=r"^secret API_TOKEN is shorter than 4"):
        masker.add("  x\n", name="API_TOKEN")
    with pytest.raises(SecretTooShortError):
        masker.add("")
    assert not masker
    masker.add("abcd")
    assert masker


def test_no_secrets_means_mask_returns_its_input() -> None:
    masker = SecretMasker()
    text = "nothing to hide " * 1000
    assert not masker
    assert masker.mask(text) is text
    stream = masker.stream()
    assert stream.feed("abc") == "abc"
    assert stream.flush() == ""


def test_every_line_of_a_multi_line_secret_is_masked() -> None:
    key = (
        "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\r\n"
        "AQEFAASCBKcwggSjAgEAAoIB\nxy\n-----END KEY-----"
    )
    masker = SecretMasker([key])
    assert masker.mask(f"key is {key}!") == "key is ***!"
    assert masker.mask("dump: AQEFAASCBKcwggSjAgEAAoIB\n") == "dump: ***\n"
    assert masker.mask("line MIIEvQIBADANBgkqhkiG9w0B") == "line ***"
    # A line under 4 characters is not a secret of its own: masking it would mangle text.
    assert masker.mask("xy") == "xy"
    assert masker.mask(json.dumps({"k": key})) == '{"k": "***"}'


def test_secrets_added_at_run_time_are_masked_from_then_on() -> None:
    masker = SecretMasker(["first-secret"])
    stream = masker.stream()
    masker.add("second-secret")
    assert masker.mask("first-secret second-secret") == "*** ***"
    assert stream.feed("a second-secret b") + stream.flush() == "a *** b"


def test_mask_json_masks_values_keys_numbers_and_foreign_objects() -> None:
    masker = SecretMasker([SECRET, "987654321"])
    value: dict[str, Any] = {
        "plain": 1,
        "flag": True,
        "nothing": None,
        "nested": [{"deep": f"Bearer {SECRET}"}, (SECRET, 2.5)],
        SECRET: "as a key",
        "encoded": b64(SECRET_BYTES),
        "number": 987654321,
        "error": ValueError(f"bad token {SECRET}"),
    }
    masked = masker.mask_json(value)
    assert masked == {
        "plain": 1,
        "flag": True,
        "nothing": None,
        "nested": [{"deep": "Bearer ***"}, ["***", 2.5]],
        "***": "as a key",
        "encoded": "***",
        "number": "***",
        "error": "bad token ***",
    }
    assert value["nested"][0] == {"deep": f"Bearer {SECRET}"}  # a copy, input untouched
    text = json.dumps(masked)
    assert SECRET not in text and "987654321" not in text


def test_secret_in_json_text_is_masked_and_the_json_stays_valid() -> None:
    masker = SecretMasker([SECRET])
    text = json.dumps({"headers": {"Authorization": f"token {SECRET}"}, "list": [SECRET]})
    masked = masker.mask(text)
    assert json.loads(masked) == {"headers": {"Authorization": "token ***"}, "list": ["***"]}


STREAM_TEXT = (
    f"start {SECRET} middle {b64(SECRET_BYTES)} and {quote_plus(SECRET)}\n"
    f"json {json.dumps(SECRET)} end {SECRET}"
)


def test_a_secret_split_across_two_chunks_is_masked_at_every_offset() -> None:
    masker = SecretMasker([SECRET])
    expected = masker.mask(STREAM_TEXT)
    assert expected == 'start *** middle *** and ***\njson "***" end ***'
    for cut in range(len(STREAM_TEXT) + 1):
        stream = masker.stream()
        out = stream.feed(STREAM_TEXT[:cut]) + stream.feed(STREAM_TEXT[cut:]) + stream.flush()
        assert out == expected, cut


def test_a_stream_fed_one_character_at_a_time_leaks_nothing() -> None:
    masker = SecretMasker([SECRET])
    stream = masker.stream()
    expected = masker.mask(STREAM_TEXT)
    emitted = ""
    for ch in STREAM_TEXT:
        emitted += stream.feed(ch)
        assert expected.startswith(emitted)
    tail = stream.flush()
    assert emitted + tail == expected
    # Only a tail that could still begin a secret was held back.
    assert len(tail) < masker.longest_form


@settings(max_examples=60, deadline=None)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM_TEXT)), max_size=8),
    noise=st.text(max_size=20),
)
def test_any_chunking_gives_the_same_result_as_masking_the_whole(
    cuts: list[int], noise: str
) -> None:
    masker = SecretMasker([SECRET, "other-secret-value"])
    text = noise + STREAM_TEXT + "other-secret-value" + noise
    points = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    stream = masker.stream()
    out = "".join(stream.feed(c) for c in chunks) + stream.flush()
    assert out == masker.mask(text)
    assert SECRET not in out and "other-secret-value" not in out
