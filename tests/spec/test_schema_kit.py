"""A valid workflow that uses every key of the format, shared by the schema and fuzz tests."""

from __future__ import annotations

from flowctl.spec.schema import check_data
from flowctl.spec.yamlload import load_yaml_text

# Every key of the schema appears at least once (test_schema checks that), so mutations of
# this text reach every part of the schema and the builder.
FULL_SPEC = """\
# yaml-language-server: $schema=../../schemas/workflow.schema.json
name: kitchen-sink.v1
description: Every key of the format, once.
version: "1.2.0"
tags: [test, documents]
created_by: data-team
inputs:
  document: {type: string, description: Path of the document, minLength: 1,
             maxLength: 200, pattern: "^[a-z./_-]+$", format: uri-reference,
             default: doc.txt}
  pages: {type: integer, default: 3, minimum: 1, maximum: 50}
  mode: {type: string, enum: [fast, accurate], default: fast}
  labels: {type: array, items: {type: string}, default: []}
variables: {threshold: 0.8, nested: {a: [1, 2]}}
env: {LANG: C.UTF-8, RETRIES: 3, VERBOSE: true}
secrets: [OCR_API_TOKEN]
timeout: 1h30m
max_parallel_steps: 4
retry_policy: {max_attempts: 2, backoff_strategy: exponential, delay: 500ms,
               max_delay: 10s, jitter: true, retry_on: [error, timeout, "exit_code:75"]}
sla_targets: {max_execution_time: 300, min_success_rate: 0.95}
optimization_enabled: true
adaptive_routing: true
fail_fast: true
agents:
  fast_ocr: {capabilities: [ocr], python: "pipeline.agents:fast_ocr", max_concurrency: 2}
  accurate_ocr:
    capabilities: [ocr, layout]
    run: ./ocr --accurate
    shell: bash
    working_dir: tools
    env: {MODEL: big}
    max_concurrency: 1
    timeout: 2m
    tags: [gpu]
    circuit_breaker: {failure_threshold: 2, reset_timeout: 1m}
executor: {type: dask, scheduler: "tcp://127.0.0.1:8786", workers: 2}
steps:
  - id: fetch
    name: Fetch the document
    description: Downloads it.
    type: action
    run: curl -fsSL "{{ inputs.document }}" -o doc.pdf
    shell: bash
    working_dir: work
    env: {TOKEN: "{{ env.OCR_API_TOKEN }}"}
    timeout: 30s
    retry_policy: {max_attempts: 3, delay: 1, backoff_strategy: linear}
    continue_on_failure: false
    cache: {key: "fetch-{{ inputs.document }}", ttl: 1d}
    sources: ["urls/{{ inputs.document }}.txt"]
    generates: [doc.pdf]
    circuit_breaker: {name: downloads, failure_threshold: 3, reset_timeout: 1m}
    metrics_enabled: true
    custom_metrics: [bytes, pages.count]
    outputs: {bytes: integer}
    output_mapping: {result.stdout: workflow.fetched}
    rollback_actions:
      - run: rm -f doc.pdf
        shell: sh
        working_dir: work
        env: {FORCE: "1"}
      - python: "pipeline.undo:forget"
      - http: {url: "https://example.com/undo", method: DELETE}
    error_handlers: [alert]
  - id: ocr
    agent_capability: ocr
    routing: adaptive
    failover: true
    dependencies: [fetch]
    input_mapping: {document: workflow.fetched, pages: 3, strict: true}
    input_validation: {type: object, required: [document]}
    trigger_rule: all_success
  - id: classify
    python: "pipeline.classify:run"
    resources: {cpu: 2, memory: 4GB, gpu: 1}
    dependencies: [ocr]
    condition: steps.ocr.status == "completed"
    next_steps: [route]
  - id: route
    type: condition
    cases:
      - {when: "steps.classify.outputs.kind == 'invoice'", next_steps: [invoices]}
      - {when: true, next_steps: [others]}
    default: [others]
  - id: invoices
    type: parallel
    max_concurrency: 2
    min_success_ratio: 0.5
    parallel_steps:
      - {id: totals, run: echo total}
      - {id: vendor, run: echo vendor, dependencies: [totals]}
  - id: others
    type: loop
    loop:
      for_each: "[1, 2, 3]"
      as: page
      max_iterations: 10
      max_concurrency: 2
      label: "page-{{ page }}"
      steps:
        - {id: page_step, run: "echo {{ page }}"}
  - id: poll
    type: loop
    dependencies: [invoices, others]
    trigger_rule: all_done
    loop:
      while: index < 3
      steps:
        - {id: check, run: echo check}
  - id: notify
    type: webhook
    dependencies: [poll]
    http:
      url: https://example.com/hook
      method: POST
      headers: {X-Run: "{{ run.id }}", X-Count: 3}
      json: {ok: true, pages: "{{ inputs.pages }}"}
      params: {verbose: "1"}
      expect_status: [200, 201]
      timeout: 10s
  - id: raw_post
    type: webhook
    dependencies: [poll]
    http: {url: "https://example.com/raw", body: "hello"}
  - id: pause
    type: wait
    dependencies: [notify, raw_post]
    duration: 500ms
  - id: until_noon
    type: wait
    dependencies: [pause]
    until: "2000-01-01T12:00:00Z"
  - id: review
    type: human_task
    dependencies: [until_noon]
    approval: {message: "Ship {{ inputs.document }}?", approvers: [alice, bob], timeout: 2h}
  - id: alert
    run: echo "fetch failed"
"""


def test_full_spec_passes_the_schema() -> None:
    assert check_data(load_yaml_text(FULL_SPEC).data) == []
