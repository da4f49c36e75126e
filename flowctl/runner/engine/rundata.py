"""The run's data and the names expressions see; input_mapping, input_validation, output_mapping."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from copy import deepcopy
from typing import Any

from msgspec import Struct, field

from flowctl.errors import ExpressionError, Location
from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.spec.model import Step, Workflow

_ENV_NAME_UNSAFE = re.compile(r"[^A-Z0-9_]")


class RunData(Struct, kw_only=True):
    """The names shared by every step of one run."""

    workflow: dict[str, Any]  # variables, then inputs, then output_mapping writes
    inputs: Mapping[str, Any]
    env: Mapping[str, str]  # the `env` name: the process environment plus workflow env
    run: Mapping[str, Any]  # {id, workflow, started_at}
    step_env: Mapping[str, str]  # added to every step's environment (workflow env, run id)


class Frame(Struct, kw_only=True):
    """What one scope's steps see: its `steps` view and loop variables (item, index).

    `own` is where this scope's results are published; `view` is what `steps` shows
    (inside a loop iteration: the iteration's own results over the enclosing ones).
    """

    own: dict[str, Any]
    view: Mapping[str, Any]
    variables: Mapping[str, Any] = field(default_factory=dict)

    def names(self, data: RunData) -> dict[str, Any]:
        """A fresh names mapping for one step (it adds `params` and, later, `result`)."""
        names: dict[str, Any] = {
            "workflow": data.workflow,
            "inputs": data.inputs,
            "env": data.env,
            "run": data.run,
            "steps": self.view,
            "params": {},
        }
        names.update(self.variables)
        return names


def initial_workflow_data(wf: Workflow, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """`workflow` at the start of a run: the variables, then the inputs over them."""
    data: dict[str, Any] = deepcopy(dict(wf.variables))
    data.update(deepcopy(dict(inputs)))
    return data


def build_run_data(
    wf: Workflow, inputs: Mapping[str, Any], *, run_id: str, started_at: str
) -> RunData:
    """The shared names of a run; workflow `env` templates are rendered once, here.

    Workflow env values may use `workflow`, `inputs`, `run` and `env` (the process
    environment): they are the same for every step, so rendering them per step would only
    cost time. Raises ExpressionError for a template that fails.
    """
    workflow = initial_workflow_data(wf, inputs)
    run = {"id": run_id, "workflow": wf.name, "started_at": started_at}
    process_env = dict(os.environ)
    rendered: dict[str, str] = {}
    names = {"workflow": workflow, "inputs": inputs, "run": run, "env": process_env}
    for key, value in wf.env.items():
        if "{{" in value or "{%" in value:
            from flowctl.expressions import compile_template

            value = compile_template(value).render(names)
        rendered[key] = value
    step_env = dict(rendered)
    step_env["FLOWCTL_RUN_ID"] = run_id
    step_env["FLOWCTL_WORKFLOW"] = wf.name
    return RunData(
        workflow=workflow,
        inputs=inputs,
        env={**process_env, **rendered},
        run=run,
        step_env=step_env,
    )


def expression_failure(
    err: ExpressionError, what: str, location: Location | None = None
) -> StepFailure:
    """An expression error as a step failure that is never retried; `location` is where
    the expression is written."""
    where = f" at {location}" if location is not None else ""
    return StepFailure(
        f"{what}{where}: {err.message}", kind=FailureKind.EXPRESSION, retryable=False
    )


def resolve_params(step: Step, names: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate the step's input_mapping; an expression error fails the step, naming it."""
    if not step.input_mapping:
        return {}
    from flowctl.expressions import compile_expression

    params: dict[str, Any] = {}
    for param, source in step.input_mapping.items():
        try:
            params[param] = compile_expression(source).evaluate(names)
        except ExpressionError as err:
            raise expression_failure(
                err, f"input_mapping {param!r}", step.where("input_mapping")
            ) from None
    return params


class ParamValidator:
    """input_validation: JSON Schema checks of resolved params, one compiled schema per step."""

    def __init__(self) -> None:
        self._compiled: dict[int, Any] = {}

    def check(self, step: Step, params: Mapping[str, Any]) -> None:
        schema = step.input_validation
        if schema is None:
            return
        import jsonschema
        from jsonschema.exceptions import best_match

        validator = self._compiled.get(id(schema))
        if validator is None:
            plain = _plain(schema)
            cls = jsonschema.validators.validator_for(
                plain, default=jsonschema.Draft202012Validator
            )
            try:
                cls.check_schema(plain)
            except jsonschema.SchemaError as err:
                raise StepFailure(
                    f"input_validation is not a valid JSON Schema: {err.message}",
                    kind=FailureKind.VALIDATION,
                    retryable=False,
                ) from None
            validator = cls(plain)
            self._compiled[id(schema)] = validator
        error = best_match(validator.iter_errors(_plain(params)))
        if error is None:
            return
        where = "params" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
        )
        raise StepFailure(
            f"input_validation failed at {where}: {error.message}",
            kind=FailureKind.VALIDATION,
            retryable=False,
        )


def _plain(value: Any) -> Any:
    """Read-only mappings of the model as plain dicts, which jsonschema walks."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def target_path(target: str) -> list[str]:
    """`workflow.order.id` (or `order.id`) -> ["order", "id"]; ValueError if malformed."""
    text = target.strip()
    if text.startswith("workflow."):
        text = text[len("workflow.") :]
    parts = text.split(".")
    if not text or any(not p.strip() for p in parts):
        raise ValueError(f"output_mapping target {target!r} is not a dotted path in workflow")
    return [p.strip() for p in parts]


Writes = list[tuple[tuple[str, ...], Any]]


def apply_output_mapping(
    step: Step, outputs: Mapping[str, Any], names: Mapping[str, Any], workflow: dict[str, Any]
) -> Writes:
    """Write `{expression over result: workflow path}` into the run's workflow data.

    All sources are evaluated before anything is written, so a failing mapping leaves the
    workflow data untouched. Intermediate objects are created as needed. Returns what was
    written (path, value), which the journal keeps so that resume can write it again.
    """
    if not step.output_mapping:
        return []
    from flowctl.expressions import compile_expression

    scope = {**names, "result": outputs}
    # The step reads itself as steps.<id>.outputs too (validate accepts that): only its
    # outputs exist yet, the rest of its entry comes once it has finished.
    scope["steps"] = ChainMap({step.id: {"outputs": outputs}}, names.get("steps") or {})
    writes: Writes = []
    for source, target in step.output_mapping.items():
        try:
            path = target_path(target)
        except ValueError as err:
            raise StepFailure(str(err), kind=FailureKind.EXPRESSION, retryable=False) from None
        try:
            value = compile_expression(source).evaluate(scope)
        except ExpressionError as err:
            raise expression_failure(
                err, f"output_mapping {source!r}", step.where("output_mapping")
            ) from None
        writes.append((tuple(path), value))
    for written, value in writes:
        write_path(workflow, written, value)
    return writes


def write_path(workflow: dict[str, Any], path: Sequence[str], value: Any) -> None:
    """Set workflow.<path> = value, making intermediate objects; StepFailure if one is not
    an object."""
    cursor = workflow
    for depth, part in enumerate(path[:-1]):
        nxt = cursor.get(part)
        if nxt is None:
            nxt = cursor[part] = {}
        elif not isinstance(nxt, dict):
            where = "workflow." + ".".join(path[: depth + 1])
            raise StepFailure(
                f"output_mapping cannot write workflow.{'.'.join(path)}: {where} is a "
                f"{type(nxt).__name__}, not an object",
                kind=FailureKind.EXPRESSION,
                retryable=False,
            )
        cursor = nxt
    cursor[path[-1]] = value


def param_env_name(param: str) -> str:
    return "FLOWCTL_PARAM_" + _ENV_NAME_UNSAFE.sub("_", param.upper())


def env_text(value: Any) -> str:
    """A value as environment text: strings as is, JSON for everything else."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, default=str, ensure_ascii=False)


def step_env(
    data: RunData, params: Mapping[str, Any], *, qualified_id: str, idempotency_key: str
) -> dict[str, str]:
    """The environment additions of one step: workflow env, FLOWCTL_*, params."""
    env = dict(data.step_env)
    env["FLOWCTL_STEP_ID"] = qualified_id
    env["FLOWCTL_IDEMPOTENCY_KEY"] = idempotency_key
    for param, value in params.items():
        env[param_env_name(param)] = env_text(value)
    return env


# One encoder for every digest (json.dumps with options builds a new one per call, and a
# digest is taken of every completed step's outputs).
def _digest_form(value: Any) -> Any:
    from flowctl.runner.stored_outputs import digest_form

    return digest_form(value)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_digest_form)
_EMPTY_DIGEST = hashlib.sha256(b"{}").hexdigest()


def sha256_json(value: Any) -> str | None:
    """Canonical JSON digest (sorted keys), for caching advice; None if it cannot be encoded.

    A shelved child's outputs (a loop's iterations) count by their own digest, unread.
    """
    if isinstance(value, dict) and not value:
        return _EMPTY_DIGEST  # most steps have no outputs
    try:
        text = _CANONICAL.encode(value)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
