"""The transition table: which status a report may move to, who may move it, public or not."""

from dataclasses import dataclass

from django.db import models

from ..choices import OPEN_STATUSES, Status


class Role(models.TextChoices):
    """Who moves a report: the permission column of the transition table."""

    INTAKE = "intake"  # a citizen through the app, the web, Open311 or a call-taker
    PLANNER = "planner"  # preventive work at a hotspot
    DISPATCH = "dispatch"  # the dispatch engine (intake, backlog, a declined job)
    CREW = "crew"  # a field crew working its job
    SUPERVISOR = "supervisor"  # reassign, cancel, merge, close, reopen


class WorkflowError(Exception):
    """A change that is not allowed; `code` says which rule, `field` which input."""

    def __init__(self, message: str, *, code: str = "invalid", field: str = "to"):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Rule:
    """Who may make a transition, and whether its event is public by default."""

    roles: frozenset[str]
    public: bool = True


def _rule(*roles: Role, public: bool = True) -> Rule:
    return Rule(roles=frozenset(roles), public=public)


S, R = Status, Role
NEW, ASSIGNED, IN_PROGRESS, RESOLVED = S.NEW, S.ASSIGNED, S.IN_PROGRESS, S.RESOLVED
CREATED = ""  # the "from" of a report's first status
# (from, to) -> who may, public or internal. Anything not listed is refused.
TRANSITIONS: dict[tuple[str, str], Rule] = {
    (CREATED, NEW): _rule(R.INTAKE, R.PLANNER),
    (CREATED, S.DUPLICATE): _rule(R.INTAKE),
    (NEW, ASSIGNED): _rule(R.DISPATCH, R.SUPERVISOR),
    # A supervisor's reassignment hands an assigned or started job to another crew.
    (ASSIGNED, ASSIGNED): _rule(R.SUPERVISOR),
    (IN_PROGRESS, ASSIGNED): _rule(R.SUPERVISOR),
    (ASSIGNED, IN_PROGRESS): _rule(R.CREW),
    (IN_PROGRESS, RESOLVED): _rule(R.CREW),
    # A crew declines: back to dispatch, internal (the public sees the next crew).
    (ASSIGNED, NEW): _rule(R.CREW, public=False),
    **{(frm, S.REJECTED): _rule(R.SUPERVISOR) for frm in (*OPEN_STATUSES, RESOLVED)},
    **{(frm, S.DUPLICATE): _rule(R.SUPERVISOR) for frm in OPEN_STATUSES},
    (RESOLVED, S.CLOSED): _rule(R.SUPERVISOR),
    (RESOLVED, NEW): _rule(R.SUPERVISOR),
    (S.CLOSED, NEW): _rule(R.SUPERVISOR),
}
# Entering these stamps closed_at; entering an open status clears it (a reopened report).
CLOSING_STATUSES = (S.CLOSED, S.REJECTED)


def transition_rule(*, from_status: str, to_status: str, role: str) -> Rule:
    """The rule letting `role` move a report from `from_status` to `to_status`, or a
    WorkflowError saying why not."""
    rule = TRANSITIONS.get((str(from_status), str(to_status)))
    if rule is None:
        raise WorkflowError(
            f"A {from_status or 'new'} report cannot become {to_status}.",
            code="illegal_transition",
        )
    if role not in rule.roles:
        raise WorkflowError(
            f"A {role} may not move a {from_status} report to {to_status}.",
            code="transition_not_allowed",
        )
    return rule
