"""How every command ends: its exit code, or one message and an exit code for an error.

Shared by the typer app and the entry point's fast path, and free of both frameworks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from flowctl.errors import ExitCode, FlowctlError


def guarded(command: Callable[[], int]) -> int:
    """Run a core command; turn flowctl's errors into one message and an exit code."""
    try:
        return command()
    except FlowctlError as err:
        from flowctl.console import report_error

        return report_error(err)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # A closed pipe (`flowctl runs | head`) is not an error worth a traceback.
        sys.stderr.close()
        return int(ExitCode.OK)
    except Exception as exc:  # a bug in flowctl: say so plainly, keep details opt-in
        if os.environ.get("FLOWCTL_DEBUG"):
            raise
        print(
            f"flowctl: internal error: {type(exc).__name__}: {exc}\n"
            "(set FLOWCTL_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return int(ExitCode.FAILED)
