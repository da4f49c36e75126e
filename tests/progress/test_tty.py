"""`flowctl run` on a real terminal: the live table steps aside while an approval is asked."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

SPEC = """\
name: release
steps:
  - id: build
    run: sleep 0.6  # longer than the live view's appear_after: the table is up by the question
  - id: review
    type: human_task
    dependencies: [build]
    approval: {message: "Ship it?", approvers: [alice, bob]}
  - id: deploy
    dependencies: [review]
    run: echo deployed
  - id: docs
    run: sleep 0.2
"""

# Make the pseudo-terminal the child's controlling terminal (flowctl asks on /dev/tty).
_SESSION = (
    "import fcntl, os, sys, termios; "
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
PROMPT = b"Approve? [y/n]: "
HIDE_CURSOR = b"\x1b[?25l"
ERASE_LINE = b"\x1b[1A\x1b[2K"


class Terminal:
    """The person's side of a pseudo-terminal running one command."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.fd, slave = os.openpty()
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "FORCE_COLOR")}
        env.update(
            TERM="xterm", COLUMNS="100", LINES="40", GITHUB_ACTIONS="true", GITHUB_ACTOR="alice"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SESSION, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = b""

    def read(self, *, until: bytes | None = None, timeout: float) -> bytes:
        """What the terminal shows next: up to `until`, or all within `timeout` seconds."""
        start = len(self.screen)
        deadline = time.monotonic() + timeout
        while until is None or until not in self.screen[start:]:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                break
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not chunk:
                break
            self.screen += chunk
        return self.screen[start:]

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.fd)


def test_the_live_view_does_not_draw_over_an_approval_question(tmp_path: Path) -> None:
    (tmp_path / "release.yaml").write_text(SPEC)
    term = Terminal([sys.executable, "-m", "flowctl", "run", "release.yaml"], tmp_path)
    try:
        before = term.read(until=PROMPT, timeout=30)
        assert PROMPT in before, before.decode(errors="replace")
        assert HIDE_CURSOR in before  # the live table was up ...
        question = before.rindex(b"Approval needed for step 'review': Ship it?")
        assert before[:question].rstrip(b"\r\n").endswith(ERASE_LINE)  # ... and was erased
        assert term.read(timeout=0.5) == b""  # four refresh periods: nothing drawn over it
        term.type("y\n\n")  # approve, no comment
        after = term.read(timeout=30)
        assert term.proc.wait(timeout=30) == 0, after.decode(errors="replace")
    finally:
        term.close()
    text = after.decode(errors="replace")
    assert text.index("approved by alice.") < text.index("\x1b[?25l")  # drawn again after
    assert "approved by alice" in text.split("\x1b[?25l")[-1]  # the row says who decided
    assert "✓ release completed in " in text
