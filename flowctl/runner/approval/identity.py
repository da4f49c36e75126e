"""Who is deciding an approval: the identity the machine vouches for, beside a claimed name.

`--by NAME` (or a name typed on the terminal) is only a claim: anyone can type any name.
What can be checked is the account running flowctl (the effective uid, looked up in the
password database, never $USER or $LOGNAME, which the caller sets) and, in CI, the actor
the platform puts in the job's environment. That is an audit trail, not authentication:
someone who controls the environment or the account can still claim what they like, and
the journal is a plain file they could edit.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from typing import Any

from msgspec import Struct

# (platform, the variable saying the job runs there, the variable naming who started it)
_CI_ACTORS = (
    ("github", "GITHUB_ACTIONS", "GITHUB_ACTOR"),
    ("gitlab", "GITLAB_CI", "GITLAB_USER_LOGIN"),
)


class Identity(Struct, frozen=True):
    """The accounts behind a decision, as far as this process can tell."""

    os_user: str | None = None  # the effective uid's login name; None if it has none
    ci_platform: str | None = None  # "github" or "gitlab" when the CI platform names an actor
    ci_actor: str | None = None

    @property
    def verified(self) -> str | None:
        """The name `approvers` is checked against: the CI actor, else the OS user."""
        return self.ci_actor or self.os_user

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"os_user": self.os_user}
        if self.ci_actor is not None:
            data["ci_platform"] = self.ci_platform
            data["ci_actor"] = self.ci_actor
        return data

    @staticmethod
    def from_data(data: Mapping[str, Any]) -> Identity | None:
        """The identity an approval_decided event records; None when it records none."""
        if "os_user" not in data and "ci_actor" not in data:
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return Identity(text("os_user"), text("ci_platform"), text("ci_actor"))


def os_user(euid: int | None = None) -> str | None:
    """The login name of the effective uid, from the password database; None without one."""
    try:
        return pwd.getpwuid(os.geteuid() if euid is None else euid).pw_name or None
    except KeyError:  # a container uid with no passwd entry
        return None


def who_is_here(environ: Mapping[str, str] | None = None, euid: int | None = None) -> Identity:
    """This process's identity: its OS user and, under GitHub Actions or GitLab CI, the actor."""
    env = os.environ if environ is None else environ
    for platform, marker, actor_var in _CI_ACTORS:
        actor = env.get(actor_var, "").strip()
        if env.get(marker) == "true" and actor:
            return Identity(os_user(euid), platform, actor)
    return Identity(os_user(euid))
