"""The `webhook` step: one HTTP request with the run's shared httpx client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from flowctl.errors import ExpressionError
from flowctl.expressions import is_template
from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.secrets import clip
from flowctl.spec.model import HttpRequest, WebhookStep
from flowctl.state.strictjson import loads_strict

if TYPE_CHECKING:  # imported when a request is sent: most runs send none
    import httpx

MAX_BODY = 1024 * 1024  # bytes of a response body kept
_RETRYABLE_4XX = frozenset({408, 429})
_SNIPPET = 200  # characters of a failing response's body quoted in the message


class WebhookExecutor:
    """Sends the step's HTTP request and checks the status.

    Outputs: `status_code`, `headers` (lower-case names; repeated headers joined with
    ", "), `body` (text; the first 1 MiB, then `body_truncated` is true), and `json` when
    the whole body parses as JSON. A status outside `expect_status` (default: any 2xx)
    fails the step: 4xx other than 408/429 is never retried; 5xx, 408, 429 and network
    errors may be. Messages show the URL without query string or credentials, masked.
    Every request carries an `Idempotency-Key` header (the attempt's idempotency key,
    stable across retries and resume) unless the step sets one itself.
    """

    async def execute(self, ctx: StepContext) -> Outputs:
        step = ctx.step
        if not isinstance(step, WebhookStep):
            raise StepFailure(
                f"step {step.id!r} is a {step.type} step, not a webhook", retryable=False
            )
        return await send_request(ctx, step.http)


EXECUTOR = WebhookExecutor()


def _render(text: str, names: Any) -> str:
    if not is_template(text):
        return text
    from flowctl.expressions import compile_template

    return compile_template(text).render(names)


def display_url(url: str) -> str:
    """The URL as shown in messages: no user:password, no query, no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    shown = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return shown + ("?…" if parts.query else "")


async def send_request(ctx: StepContext, http: HttpRequest) -> Outputs:
    """Send one request (also used for rollback actions); return the response as outputs."""
    import httpx

    from flowctl.expressions import render_json

    names = ctx.names
    try:
        url = _render(http.url, names)
        headers = {name: _render(value, names) for name, value in http.headers.items()}
        params = {name: _render(value, names) for name, value in http.params.items()}
        payload = render_json(http.json, names) if http.has_json else None
        body = _render(http.body, names) if http.body is not None else None
    except ExpressionError as exc:
        raise StepFailure(
            ctx.masker.mask(str(exc)), kind=FailureKind.EXPRESSION, retryable=False
        ) from None
    method = http.method.upper()
    if not any(name.lower() == "idempotency-key" for name in headers):
        # Stable across retries and resume: lets the receiver drop a repeated delivery.
        headers["Idempotency-Key"] = ctx.idempotency_key
    shown = ctx.masker.mask(display_url(url))
    for name, value in headers.items():
        if any(c in value for c in "\r\n\0"):
            raise StepFailure(
                f"{method} {shown}: header {name!r} contains a line break or NUL",
                kind=FailureKind.VALIDATION,
                retryable=False,
            )
    timeout = http.timeout if http.timeout is not None else ctx.timeout
    client = await ctx.http_client()
    started = time.perf_counter()
    try:
        request = client.build_request(
            method,
            url,
            headers=headers,
            params=params or None,
            json=payload if http.has_json else None,
            content=body if not http.has_json else None,
            timeout=timeout,
        )
        # httpx's timeout bounds each read; a server sending a byte now and then would hold
        # the step for ever. The deadline covers the whole request, body included.
        async with asyncio.timeout(timeout):
            response = await client.send(request, stream=True)
            try:
                raw, truncated = await _read_capped(response)
            finally:
                await response.aclose()
    except (httpx.TimeoutException, TimeoutError):
        raise StepFailure(
            f"{method} {shown}: no response within {timeout:g} s", kind=FailureKind.TIMEOUT
        ) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        raise StepFailure(
            _error_text(ctx, method, shown, url, exc), kind=FailureKind.HTTP, retryable=False
        ) from None
    except httpx.HTTPError as exc:
        raise StepFailure(
            _error_text(ctx, method, shown, url, exc), kind=FailureKind.HTTP
        ) from None
    except ValueError as exc:  # httpx rejects some malformed URLs and headers this way
        raise StepFailure(
            _error_text(ctx, method, shown, url, exc), kind=FailureKind.HTTP, retryable=False
        ) from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    status = response.status_code
    ctx.log.write(f"{method} {shown} -> HTTP {status} in {elapsed_ms:.0f} ms\n")
    outputs = _outputs(response, raw, truncated)
    if not _expected(status, http.expect_status):
        snippet = clip(" ".join(ctx.masker.mask(outputs["body"]).split()), _SNIPPET)
        expected = (
            ", ".join(str(s) for s in http.expect_status) if http.expect_status else "any 2xx"
        )
        message = f"{method} {shown} returned HTTP {status} (expected {expected})"
        if snippet:
            message += f": {snippet}"
        retryable = not (400 <= status < 500 and status not in _RETRYABLE_4XX)
        raise StepFailure(
            ctx.masker.mask(message), kind=FailureKind.HTTP, retryable=retryable, outputs=outputs
        )
    return outputs


def _error_text(ctx: StepContext, method: str, shown: str, url: str, exc: Exception) -> str:
    # httpx messages may quote the URL with its query string: show the redacted form.
    detail = str(exc).replace(url, shown) if url else str(exc)
    return ctx.masker.mask(f"{method} {shown}: {type(exc).__name__}: {detail}")


async def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            return b"".join(chunks)[:MAX_BODY], True
    return b"".join(chunks), False


def _expected(status: int, expect: tuple[int, ...]) -> bool:
    return status in expect if expect else 200 <= status < 300


def _outputs(response: httpx.Response, raw: bytes, truncated: bool) -> dict[str, Any]:
    encoding = response.charset_encoding or "utf-8"
    try:
        text = raw.decode(encoding, errors="replace")
    except LookupError:  # a charset Python does not know
        text = raw.decode("utf-8", errors="replace")
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    outputs: dict[str, Any] = {
        "status_code": response.status_code,
        "headers": headers,
        "body": text,
    }
    if truncated:
        outputs["body_truncated"] = True
    elif text.strip():
        with contextlib.suppress(ValueError, RecursionError):
            outputs["json"] = loads_strict(text)  # NaN is not JSON: such a body is text only
    return outputs
