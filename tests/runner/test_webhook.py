"""Webhook steps against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowctl.runner.steps.base import FailureKind, Outputs, StepContext, StepFailure
from flowctl.runner.steps.webhook import EXECUTOR, display_url
from flowctl.spec.model import WebhookStep
from tests.httpserver import HttpTestServer, Reply
from tests.runner.helpers import log_of, make_ctx, run, webhook_step

TOKEN = "hook-token-5e6f7a8b"


@pytest.fixture
def server() -> Iterator[HttpTestServer]:
    with HttpTestServer() as srv:
        yield srv


def call(step: WebhookStep, tmp_path: Path, **kw: Any) -> Outputs:
    async def go() -> Outputs:
        async with httpx.AsyncClient() as client:
            return await EXECUTOR.execute(make_ctx(step, tmp_path, client=client, **kw))

    return run(go())


def call_fails(step: WebhookStep, tmp_path: Path, **kw: Any) -> tuple[StepFailure, StepContext]:
    holder: list[StepContext] = []

    async def go() -> Outputs:
        async with httpx.AsyncClient() as client:
            ctx = make_ctx(step, tmp_path, client=client, **kw)
            holder.append(ctx)
            return await EXECUTOR.execute(ctx)

    with pytest.raises(StepFailure) as exc:
        run(go())
    return exc.value, holder[0]


def test_post_json_with_templated_url_headers_params_and_body(
    server: HttpTestServer, tmp_path: Path
) -> None:
    server.reply("/orders/7", Reply(201, json={"id": 99, "ok": True}, headers={"X-Req": "abc"}))
    step = webhook_step(
        server.url("/orders/{{ params.order }}"),
        headers={"Authorization": "Bearer {{ env.TOKEN }}", "X-Static": "1"},
        params={"dry": "{{ params.dry }}"},
        json={"order": "{{ params.order }}", "items": ["{{ params.item }}"], "note": "fixed"},
        has_json=True,
    )
    outputs = call(
        step,
        tmp_path,
        params={"order": 7, "dry": False, "item": "book"},
        env={"TOKEN": TOKEN},
    )
    assert outputs["status_code"] == 201
    assert outputs["json"] == {"id": 99, "ok": True}
    assert outputs["headers"]["x-req"] == "abc"
    assert outputs["headers"]["content-type"] == "application/json"
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == "/orders/7"
    assert request.query == {"dry": ["false"]}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-static"] == "1"
    assert request.headers["idempotency-key"] == "run-1/hook"
    assert request.json() == {"order": 7, "items": ["book"], "note": "fixed"}


def test_get_with_a_text_body_and_no_json(server: HttpTestServer, tmp_path: Path) -> None:
    server.reply("/text", Reply(200, body="plain words"))
    outputs = call(
        webhook_step(server.url("/text"), method="put", body="v={{ params.v }}"),
        tmp_path,
        params={"v": 1},
    )
    assert outputs == {
        "status_code": 200,
        "headers": outputs["headers"],
        "body": "plain words",
    }
    assert server.requests[0].method == "PUT"
    assert server.requests[0].text == "v=1"


def test_expect_status_is_honoured(server: HttpTestServer, tmp_path: Path) -> None:
    server.reply("/accepted", Reply(202, json={}))
    assert (
        call(webhook_step(server.url("/accepted"), expect_status=(202,)), tmp_path)["status_code"]
        == 202
    )
    failure, _ = call_fails(
        webhook_step(server.url("/accepted"), expect_status=(200, 201)), tmp_path
    )
    assert failure.message.startswith(
        f"POST {server.url('/accepted')} returned HTTP 202 (expected 200, 201)"
    )


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (404, False), (422, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_http_errors_and_whether_they_are_retried(
    server: HttpTestServer, tmp_path: Path, status: int, retryable: bool
) -> None:
    server.reply("/x", Reply(status, json={"error": "nope"}))
    failure, _ = call_fails(webhook_step(server.url("/x")), tmp_path)
    assert failure.kind is FailureKind.HTTP
    assert failure.retryable is retryable
    assert failure.message == (
        f'POST {server.url("/x")} returned HTTP {status} (expected any 2xx): {{"error": "nope"}}'
    )
    assert failure.outputs["status_code"] == status
    assert failure.outputs["json"] == {"error": "nope"}


def test_a_slow_server_times_out_as_a_retryable_timeout(
    server: HttpTestServer, tmp_path: Path
) -> None:
    server.reply("/slow", Reply(200, delay=5))
    failure, _ = call_fails(webhook_step(server.url("/slow"), timeout=0.2), tmp_path)
    assert failure.kind is FailureKind.TIMEOUT
    assert failure.retryable
    assert failure.message == f"POST {server.url('/slow')}: no response within 0.2 s"


def test_connection_refused_is_retryable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    failure, _ = call_fails(webhook_step(f"http://127.0.0.1:{port}/hook"), tmp_path)
    assert failure.retryable
    assert failure.message.startswith(f"POST http://127.0.0.1:{port}/hook: ConnectError")


def test_secrets_never_appear_in_messages_or_logs(server: HttpTestServer, tmp_path: Path) -> None:
    server.reply(f"/hook/{TOKEN}", Reply(500, body=f"bad token {TOKEN}"))
    url = server.url(f"/hook/{TOKEN}?key={TOKEN}").replace("http://", f"http://user:{TOKEN}@")
    failure, ctx = call_fails(webhook_step(url), tmp_path, secrets=(TOKEN,))
    assert TOKEN not in failure.message
    assert failure.message == (
        f"POST http://127.0.0.1:{server.port}/hook/***?… returned HTTP 500 (expected any 2xx): "
        "bad token ***"
    )
    assert TOKEN not in log_of(ctx)
    assert server.requests[0].query == {"key": [TOKEN]}


def test_templates_cannot_smuggle_header_lines(server: HttpTestServer, tmp_path: Path) -> None:
    step = webhook_step(server.url("/h"), headers={"X-Name": "{{ params.name }}"})
    failure, _ = call_fails(step, tmp_path, params={"name": "a\r\nX-Admin: true"})
    assert "header 'X-Name' contains a line break" in failure.message
    assert not failure.retryable
    assert server.requests == []


def test_large_bodies_are_capped(server: HttpTestServer, tmp_path: Path) -> None:
    server.reply("/big", Reply(200, body="[" + "1," * 600_000 + "1]"))
    outputs = call(webhook_step(server.url("/big"), method="GET"), tmp_path)
    assert outputs["body_truncated"] is True
    assert len(outputs["body"]) == 1024 * 1024
    assert "json" not in outputs


def test_display_url_drops_credentials_and_query() -> None:
    assert display_url("https://u:p@example.com:8443/a/b?x=1#f") == "https://example.com:8443/a/b?…"
    assert display_url("http://[::1]/x") == "http://[::1]/x"


def test_the_step_may_set_its_own_idempotency_key(server: HttpTestServer, tmp_path: Path) -> None:
    call(webhook_step(server.url("/k"), headers={"idempotency-KEY": "mine"}), tmp_path)
    assert server.requests[0].headers["idempotency-key"] == "mine"
