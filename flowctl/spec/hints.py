"""Words other workflow tools use for keys, and what flowctl calls the same idea."""

from __future__ import annotations

# Keys of a step in GitHub Actions, go-task, Compose, Argo, GitLab CI, Tekton and Airflow.
STEP_WORDS: dict[str, str] = {
    "needs": "flowctl calls this 'dependencies'",
    "depends_on": "flowctl calls this 'dependencies'",
    "deps": "flowctl calls this 'dependencies'",
    "dependsOn": "flowctl calls this 'dependencies'",
    "runAfter": "flowctl calls this 'dependencies'",
    "after": "flowctl calls this 'dependencies'",
    "requires": "flowctl calls this 'dependencies'",
    "upstream": "flowctl calls this 'dependencies'",
    "if": "flowctl calls this 'condition'",
    "when": "flowctl calls this 'condition'",
    "only_if": "flowctl calls this 'condition'",
    "rules": "flowctl calls this 'condition'",
    "cmds": "flowctl calls this 'run': one script, `run: |` for several lines",
    "cmd": "flowctl calls this 'run'",
    "command": "flowctl calls this 'run'",
    "commands": "flowctl calls this 'run': one script, `run: |` for several lines",
    "script": "flowctl calls this 'run'",
    "sh": "flowctl calls this 'run'",
    "shell_command": "flowctl calls this 'run'",
    "runs-on": "flowctl runs every step on this machine: remove it",
    "steps": "a step holds no steps; use 'type: parallel' with 'parallel_steps', or 'type: loop'",
    "tasks": "a step holds no tasks; use 'type: parallel' with 'parallel_steps'",
    "with": "flowctl calls this 'input_mapping', the step's params",
    "args": "flowctl calls this 'input_mapping', the step's params",
    "arguments": "flowctl calls this 'input_mapping', the step's params",
    "params": "flowctl calls this 'input_mapping', the step's params",
    "vars": "flowctl calls this 'input_mapping', the step's params",
    "working-directory": "flowctl calls this 'working_dir'",
    "workingDir": "flowctl calls this 'working_dir'",
    "dir": "flowctl calls this 'working_dir'",
    "cwd": "flowctl calls this 'working_dir'",
    "environment": "flowctl calls this 'env'",
    "env_file": "flowctl has no env files: list the variables under 'env'",
    "dotenv": "flowctl has no env files: list the variables under 'env'",
    "concurrency": "limit parallelism with 'max_parallel_steps' (workflow) or 'max_concurrency'"
    " of a parallel or loop step",
    "strategy": "flowctl runs a step for each item with 'type: loop' and 'loop: {for_each: ...}'",
    "matrix": "flowctl runs a step for each item with 'type: loop' and 'loop: {for_each: ...}'",
    "with_items": "flowctl runs a step for each item with 'type: loop' and 'loop: {for_each: ...}'",
    "withItems": "flowctl runs a step for each item with 'type: loop' and 'loop: {for_each: ...}'",
    "loop_over": "flowctl runs a step for each item with 'type: loop' and 'loop: {for_each: ...}'",
    "timeout-minutes": "flowctl calls this 'timeout', a duration such as 10m",
    "timeout_minutes": "flowctl calls this 'timeout', a duration such as 10m",
    "continue-on-error": "flowctl calls this 'continue_on_failure'",
    "allow_failure": "flowctl calls this 'continue_on_failure'",
    "ignore_error": "flowctl calls this 'continue_on_failure'",
    "ignore_errors": "flowctl calls this 'continue_on_failure'",
    "retries": "flowctl calls this 'retry_policy', e.g. retry_policy: {max_attempts: 3}",
    "retry": "flowctl calls this 'retry_policy', e.g. retry_policy: {max_attempts: 3}",
    "outputs_mapping": "flowctl calls this 'output_mapping'",
    "uses": "flowctl has no reusable actions: write the command under 'run'",
    "image": "flowctl runs commands on this machine: run the container yourself in 'run'",
    "on_failure": "flowctl calls this 'error_handlers': ids of steps to run on failure",
    "onError": "flowctl calls this 'error_handlers': ids of steps to run on failure",
    "on-failure": "flowctl calls this 'error_handlers': ids of steps to run on failure",
}

# Top-level keys of the same tools.
WORKFLOW_WORDS: dict[str, str] = {
    "jobs": "flowctl calls this 'steps', a list of steps with an 'id' each",
    "tasks": "flowctl calls this 'steps', a list of steps with an 'id' each",
    "services": "flowctl calls this 'steps', a list of steps with an 'id' each",
    "stages": "flowctl calls this 'steps', a list of steps with an 'id' each",
    "templates": "flowctl calls this 'steps', a list of steps with an 'id' each",
    "on": "flowctl runs when you call `flowctl run`: remove it",
    "vars": "flowctl calls this 'variables'",
    "variables_file": "flowctl calls this 'variables'",
    "env_file": "flowctl has no env files: list the variables under 'env'",
    "dotenv": "flowctl has no env files: list the variables under 'env'",
    "concurrency": "flowctl calls this 'max_parallel_steps'",
    "defaults": "flowctl has no 'defaults': use a YAML anchor under an 'x-' key and `<<: *anchor`",
    "include": "flowctl workflows are one file",
    "includes": "flowctl workflows are one file",
    "params": "flowctl calls this 'inputs'",
    "parameters": "flowctl calls this 'inputs'",
    "arguments": "flowctl calls this 'inputs'",
    "permissions": "flowctl runs as you: remove it",
}


def other_tool_hint(key: str, *, step: bool) -> str | None:
    """What flowctl calls `key`, a word another tool uses; None if it is no such word."""
    words = STEP_WORDS if step else WORKFLOW_WORDS
    return words.get(key)
