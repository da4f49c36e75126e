"""What a run prints and where: progress view, step output blocks, CI annotations, summary.

`run` and `resume` decide it once from their options and the environment (a terminal, CI,
GitHub Actions, GitLab CI); the engine knows none of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from msgspec import Struct, field

from flowctl.choices import ShowOutput
from flowctl.closing import Closing
from flowctl.errors import UsageError
from flowctl.progress.output_blocks import (
    CiKind,
    OutputBlocks,
    ci_kind,
    default_show_output,
    folding_for,
)
from flowctl.runner.events import RunEvent, RunObserver
from flowctl.runner.results import RunResult
from flowctl.spec.model import Workflow
from flowctl.textout import Output

SHOW_OUTPUT_CHOICES = tuple(s.value for s in ShowOutput)


def parse_show_output(value: str | None) -> ShowOutput:
    """`--show-output`: failed, all or none; its default depends on where we run."""
    if value is None:
        return default_show_output()
    try:
        return ShowOutput(value.lower())
    except ValueError:
        raise UsageError(
            f"--show-output must be one of {', '.join(SHOW_OUTPUT_CHOICES)}, got {value!r}"
        ) from None


class ConsolePlan(Struct, Closing, kw_only=True):
    """The observers of one run's console besides the progress view, and what they did."""

    ci: CiKind
    show: ShowOutput
    quiet: bool
    blocks: OutputBlocks | None = None
    extra: list[RunObserver] = field(default_factory=list)

    @property
    def observers(self) -> list[RunObserver]:
        return [*([self.blocks] if self.blocks is not None else []), *self.extra]

    def shows_failures(self) -> bool:
        """True when the failed steps' output was printed already (no tails needed)."""
        return self.blocks is not None

    def wants_tails(self) -> bool:
        """The log tails of failed steps after the summary: not when quiet, not when the
        user asked for no step output, not when the blocks already showed them."""
        return not self.quiet and self.show is not ShowOutput.NONE and not self.shows_failures()

    def handle(self, event: RunEvent) -> None:
        for observer in self.observers:
            observer.handle(event)

    def close(self) -> None:
        if self.blocks is not None:
            self.blocks.close()


def plan_console(
    console: Output,
    *,
    show_output: str | None,
    quiet: bool,
    live: bool,
    workflow: Workflow | None,
) -> ConsolePlan:
    """The plan for `console` (the one progress lines go to).

    Under GitHub Actions the secrets are announced with `::add-mask::` here, before any
    step has printed anything.
    """
    from flowctl.progress.ansi import colour_allowed

    show = parse_show_output(show_output)
    ci = ci_kind()
    plan = ConsolePlan(ci=ci, show=show, quiet=quiet)
    stream = console.file
    if ci is CiKind.GITHUB and workflow is not None:
        _announce_masks(stream, workflow)
    if quiet or show is ShowOutput.NONE:
        return plan
    if show is ShowOutput.FAILED and ci is CiKind.NONE:
        # On a terminal the failed steps' log tails follow the summary, where they are
        # read, rather than scrolling away with the progress lines.
        return plan
    plan.blocks = OutputBlocks(
        stream,
        show=show,
        folding=folding_for(ci),
        keep_sgr=colour_allowed(console.is_terminal),
        deferred=live,
    )
    if ci is CiKind.GITHUB and workflow is not None:
        from flowctl.progress.ci_github import GitHubAnnotations

        plan.extra.append(GitHubAnnotations(stream, workflow))
    return plan


def _announce_masks(stream: IO[str], workflow: Workflow) -> None:
    from flowctl.progress.ci_github import add_mask_commands

    values = [os.environ[name] for name in workflow.secrets if name in os.environ]
    text = add_mask_commands(values)
    if text:
        stream.write(text)
        stream.flush()


def finish_console(plan: ConsolePlan, result: RunResult, workflow: Workflow | None) -> None:
    """After the summary: the GitHub step summary, when the job has one."""
    if plan.ci is not CiKind.GITHUB or workflow is None:
        return
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from flowctl.progress.ci_github import append_step_summary, step_summary

    try:
        append_step_summary(Path(target), step_summary(result, workflow))
    except OSError as exc:
        import sys

        sys.stderr.write(f"warning: cannot write $GITHUB_STEP_SUMMARY {target}: {exc}\n")
