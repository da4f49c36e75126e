"""Names for the iterations of a for_each loop: `compile[lapi.c].cc` beside `compile[3].cc`.

Ids stay index-based (the journal and resume rely on them); a label is only a name. The
loop tells the run's observers its labels (a LoopLabelled event); the journal keeps them
as a `loop_labels` line and the loop's outputs as `labels`, so any reader of a run (views,
reports, `runs show`, `resume --from`) can map one form to the other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowctl.state.audit import AuditEvent

MAX_LABEL = 40
JOURNAL_EVENT = "loop_labels"  # the journal line that keeps a loop's labels (once)
# A label stands inside `loop[...]` of an id and is typed on command lines: letters, digits
# and `_ - . + : @ % = , /` only (no brackets, `#`, spaces or control characters). A label
# of digits only would read as an index, so it is never used.
_PLAIN = re.compile(r"[A-Za-z0-9_\-.+:@%=,/]{1," + str(MAX_LABEL) + "}")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def default_label(item: Any, index: int) -> str:
    """The item itself when it is a plain string, number or boolean, else the index."""
    if isinstance(item, bool):
        text = "true" if item else "false"
    elif isinstance(item, int | float | str):
        text = str(item)
    else:
        return str(index)
    return text if is_plain(text) else str(index)


def is_plain(text: str) -> bool:
    """A label that can stand inside `[...]` of an id and be typed on a command line."""
    return bool(_PLAIN.fullmatch(text)) and not text.isdigit()


def loop_labels(items: Sequence[Any], render: Callable[[Any, int], str] | None = None) -> list[str]:
    """One label per item; labels that collide get `#<index>` appended.

    `render` is the loop's `label` template; a rendered label that is not plain (see
    is_plain) falls back to the index, as a default label does.
    """
    raw: list[str] = []
    for index, item in enumerate(items):
        if render is None:
            raw.append(default_label(item, index))
        else:
            text = render(item, index).strip()
            raw.append(text if is_plain(text) else str(index))
    counts: dict[str, int] = {}
    for text in raw:
        counts[text] = counts.get(text, 0) + 1
    return [
        text if counts[text] == 1 or text == str(index) else f"{text}#{index}"
        for index, text in enumerate(raw)
    ]


def labelled(step_id: str, labels: Mapping[str, Sequence[str]]) -> str:
    """`compile[3].cc` as `compile[lapi.c].cc`, given each loop's labels by loop id."""
    if "[" not in step_id:
        return step_id
    out: list[str] = []
    position = 0
    for match in _SEGMENT.finditer(step_id):
        loop = step_id[: match.start()]
        names = labels.get(loop)
        text = match.group(1)
        out.append(step_id[position : match.start()])
        if names is not None and text.isdigit() and int(text) < len(names):
            out.append(f"[{names[int(text)]}]")
        else:
            out.append(match.group(0))
        position = match.end()
    out.append(step_id[position:])
    return "".join(out)


def unlabelled(step_id: str, labels: Mapping[str, Sequence[str]]) -> str:
    """The stable index-based id of `step_id`, which may name iterations by their labels."""
    if "[" not in step_id:
        return step_id
    position = 0
    stable = ""  # the index-based id so far: the loop ids labels are keyed by
    for match in _SEGMENT.finditer(step_id):
        head = step_id[position : match.start()]
        stable += head
        text = match.group(1)
        names = labels.get(stable)
        if names is not None and not text.isdigit() and text in names:
            text = str(list(names).index(text))
        stable += f"[{text}]"
        position = match.end()
    return stable + step_id[position:]


def labels_from_journal(events: Iterable[AuditEvent]) -> dict[str, list[str]]:
    """Each loop's labels from its `loop_labels` journal lines (the latest one wins)."""
    found: dict[str, list[str]] = {}
    for event in events:
        if event.event == JOURNAL_EVENT and event.step is not None:
            names = event.data.get("labels")
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                found[event.step] = list(names)
    return found


def journal_labels(audit: Path) -> dict[str, list[str]]:
    """labels_from_journal of the journal at `audit`; none when it cannot be read.

    Only `loop_labels` lines are parsed, one line in memory at a time: the journal of a
    big run holds every step's outputs, and views ask for labels after every run.
    """
    from flowctl.errors import StateError
    from flowctl.state.audit import read_events_named

    try:
        return labels_from_journal(read_events_named(audit, JOURNAL_EVENT))
    except StateError:
        return {}
