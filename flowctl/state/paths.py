"""Where a run's files live under the state directory, and how runs are named."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from msgspec import Struct

from flowctl.errors import StateError

# Where runs, history and the cache live unless --state-dir (or state_dir=) says otherwise.
DEFAULT_STATE_DIR = Path(".flowctl")
HISTORY_FILE = "history.jsonl"
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# A run id comes back from the command line (`flowctl resume RUN_ID`), so it must never
# be able to name anything outside state_dir/runs.
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_GENERATED_RUN_ID = re.compile(r"(\d{8}T\d{6}Z)-[0-9a-f]{6}")
# Characters that stay as they are in a log file name; the rest are %XX-escaped, which
# keeps the mapping one-to-one (no two step names share a log) and free of "/" and NUL.
_SAFE_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.[]")
_MAX_STEM = 200  # file names are limited to 255 bytes on common filesystems


def new_run_id(now: datetime | None = None) -> str:
    """A run id such as "20261125T163400Z-3fa9c1": UTC time (sortable) plus 24 random bits.

    A naive `now` is taken to be UTC already.
    """
    import secrets  # here: it imports random and hashlib, which plans and listings never use

    moment = now if now is not None else datetime.now(UTC)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return f"{moment.strftime(_TIME_FORMAT)}-{secrets.token_hex(3)}"


def check_run_id(run_id: str) -> str:
    """Return `run_id` if it is a safe directory name, else raise StateError."""
    if not _RUN_ID.fullmatch(run_id) or run_id in {".", ".."}:
        raise StateError(
            f"invalid run id {run_id!r}: use letters, digits, '_', '.' and '-' "
            "(as printed by `flowctl runs`)"
        )
    return run_id


def safe_file_stem(name: str) -> str:
    """A file name stem for `name` that cannot leave its directory and never collides."""
    if not name:
        return "%"  # "%" alone is never produced by escaping, so it cannot collide
    escaped = "".join(
        char if char in _SAFE_NAME_CHARS else "".join(f"%{b:02X}" for b in char.encode())
        for char in name
    )
    if escaped.startswith("."):
        escaped = "%2E" + escaped[1:]  # no hidden files
    if len(escaped) > _MAX_STEM:
        import hashlib

        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        escaped = f"{escaped[: _MAX_STEM - 18]}~{digest}"
    return escaped


class RunPaths(Struct, frozen=True):
    """The files of one run: state_dir/runs/<run_id>/{audit.jsonl, logs/, report.json}."""

    state_dir: Path
    run_id: str

    def __post_init__(self) -> None:
        check_run_id(self.run_id)

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "runs" / self.run_id

    @property
    def audit(self) -> Path:
        return self.run_dir / "audit.jsonl"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def report(self) -> Path:
        return self.run_dir / "report.json"

    def log(self, step_name: str) -> Path:
        """The log file of a step, e.g. logs/loop[3].child.log; never outside logs_dir."""
        return self.logs_dir / f"{safe_file_stem(step_name)}.log"

    def create(self) -> None:
        """Make the run and logs directories (and any missing parents)."""
        try:
            self.logs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create run directory {self.run_dir}: {exc}") from exc


def allocate_run(state_dir: Path, now: datetime | None = None) -> RunPaths:
    """Create the directory of a brand-new run, with an id no other run (concurrent or not) has.

    The random part makes a clash unlikely; the exclusive mkdir makes it impossible.
    """
    runs = state_dir / "runs"
    try:
        runs.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            paths = RunPaths(state_dir, new_run_id(now))
            try:
                paths.run_dir.mkdir()
            except FileExistsError:
                continue
            paths.create()
            return paths
    except OSError as exc:
        raise StateError(f"cannot create a run directory in {runs}: {exc}") from exc
    raise StateError(f"cannot find a free run id in {runs}")


def _newest_first_key(run_dir: Path) -> tuple[str, int, str]:
    match = _GENERATED_RUN_ID.fullmatch(run_dir.name)
    try:
        mtime_ns = run_dir.stat().st_mtime_ns
    except OSError:
        mtime_ns = 0
    if match:
        started = match.group(1)
    else:
        started = datetime.fromtimestamp(mtime_ns / 1e9, UTC).strftime(_TIME_FORMAT)
    return started, mtime_ns, run_dir.name


def list_run_dirs(state_dir: Path) -> list[Path]:
    """Directories of the runs under state_dir, newest first; [] when there are none."""
    runs = state_dir / "runs"
    try:
        candidates = [p for p in runs.iterdir() if p.is_dir() and _RUN_ID.fullmatch(p.name)]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StateError(f"cannot list runs in {runs}: {exc}") from exc
    return sorted(candidates, key=_newest_first_key, reverse=True)
