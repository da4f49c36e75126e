"""Circuit breakers: after N consecutive failures a dependency is left alone for a while.

One `CircuitBreakers` per run; circuits are shared by name across steps and loop
iterations (SPEC.md 2). The classic three states: CLOSED lets attempts through and counts
consecutive failures; OPEN fails attempts fast until `reset_timeout` has passed; HALF_OPEN
lets exactly one trial attempt through, whose success closes the circuit and whose failure
opens it again. Everything runs on the event loop thread, so no lock is needed; the
one-trial rule is what keeps concurrent steps from stampeding a recovering service.

How the scheduler uses it, per attempt of a step with `circuit_breaker`:

    breakers.before_attempt(spec)          # may raise CircuitOpenError (a StepFailure)
    try: outputs = await executor.execute(ctx)
    except StepFailure as f: breakers.record(spec, success=False) if counts_against_circuit(f)
                             else breakers.release(spec)
    except CancelledError: breakers.release(spec); raise
    else: breakers.record(spec, success=True)

An attempt refused by `before_attempt` must not be recorded: it never reached the service.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from msgspec import Struct

from flowctl.runner.steps.base import FailureKind, StepFailure
from flowctl.spec.model import CircuitBreakerSpec


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


# Failures that say nothing about the health of what the circuit protects: the spec's own
# mistakes, a cancelled attempt, and the fail-fast refusal of the circuit itself.
_NOT_THE_SERVICE = frozenset(
    {
        FailureKind.EXPRESSION,
        FailureKind.VALIDATION,
        FailureKind.UNSUPPORTED,
        FailureKind.CANCELLED,
        FailureKind.CIRCUIT_OPEN,
    }
)


def counts_against_circuit(failure: StepFailure) -> bool:
    """Whether this failed attempt is evidence that the protected dependency is unhealthy."""
    return failure.kind not in _NOT_THE_SERVICE


class CircuitOpenError(StepFailure):
    """An attempt refused because its circuit is open; `retry_after` seconds until a trial."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, kind=FailureKind.CIRCUIT_OPEN, retryable=True)
        self.retry_after = retry_after


class _Circuit(Struct):
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0  # consecutive failures (kept while open, for the message)
    opened_at: float = 0.0
    trial_in_flight: bool = False


class CircuitBreakers:
    """Every circuit of one run, by name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def _get(self, name: str) -> _Circuit:
        circuit = self._circuits.get(name)
        if circuit is None:
            circuit = self._circuits[name] = _Circuit()
        return circuit

    def state(self, name: str) -> CircuitState:
        """The circuit's state as last changed (an unknown name is CLOSED)."""
        circuit = self._circuits.get(name)
        return circuit.state if circuit is not None else CircuitState.CLOSED

    def retry_after(self, spec: CircuitBreakerSpec) -> float:
        """Seconds until an open circuit lets a trial through; 0 when it would now."""
        circuit = self._circuits.get(spec.name)
        if circuit is None or circuit.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, circuit.opened_at + spec.reset_timeout - self._clock())

    def before_attempt(self, spec: CircuitBreakerSpec) -> CircuitState | None:
        """Let an attempt through, or raise CircuitOpenError.

        Returns the new state when letting it through changed the state (OPEN -> HALF_OPEN
        once `reset_timeout` has passed: this attempt is the trial), else None.
        """
        circuit = self._get(spec.name)
        if circuit.state is CircuitState.CLOSED:
            return None
        if circuit.state is CircuitState.OPEN:
            wait = self.retry_after(spec)
            if wait > 0:
                raise CircuitOpenError(
                    f"circuit {spec.name!r} is open ({_failures(circuit.failures)}; "
                    f"retry after {wait:.1f}s)",
                    retry_after=wait,
                )
            circuit.state = CircuitState.HALF_OPEN
            circuit.trial_in_flight = True
            return CircuitState.HALF_OPEN
        if circuit.trial_in_flight:
            raise CircuitOpenError(
                f"circuit {spec.name!r} is half-open and its one trial attempt is still running",
                retry_after=0.0,
            )
        circuit.trial_in_flight = True
        return None

    def record(self, spec: CircuitBreakerSpec, *, success: bool) -> CircuitState | None:
        """The outcome of an attempt that `before_attempt` let through.

        Returns the new state when it changed (the scheduler audits transitions), else None.
        Outcomes of attempts that were already running when the circuit opened do not
        change an open circuit: only its own trial may close it.
        """
        circuit = self._get(spec.name)
        if circuit.state is CircuitState.OPEN:
            if not success:
                circuit.failures += 1
            return None
        if circuit.state is CircuitState.HALF_OPEN:
            circuit.trial_in_flight = False
            if success:
                circuit.state = CircuitState.CLOSED
                circuit.failures = 0
                return CircuitState.CLOSED
            circuit.failures += 1
            return self._open(circuit)
        if success:
            circuit.failures = 0
            return None
        circuit.failures += 1
        if circuit.failures >= spec.failure_threshold:
            return self._open(circuit)
        return None

    def release(self, spec: CircuitBreakerSpec) -> None:
        """An attempt let through ended without a verdict (cancelled, or the spec's own
        error): it frees the half-open trial slot and changes nothing else."""
        circuit = self._circuits.get(spec.name)
        if circuit is not None and circuit.state is CircuitState.HALF_OPEN:
            circuit.trial_in_flight = False

    def _open(self, circuit: _Circuit) -> CircuitState:
        circuit.state = CircuitState.OPEN
        circuit.opened_at = self._clock()
        circuit.trial_in_flight = False
        return CircuitState.OPEN


def _failures(count: int) -> str:
    return f"{count} consecutive failure{'' if count == 1 else 's'}"
