"""The report core's domain events, sent by the workflow once the change is committed."""

from dataclasses import dataclass

from django.dispatch import Signal


@dataclass(frozen=True)
class StatusChange:
    """One report's status change (from_status "" for a new report)."""

    report_id: int
    from_status: str
    to_status: str
    actor_label: str
    public: bool


# Sent with `changes: list[StatusChange]` after the transaction that made them commits (one
# signal per workflow call: one change, or a whole dispatch batch). Receivers run outside that
# transaction; an error in one is logged and does not reach the caller (send_robust-like:
# transaction.on_commit(..., robust=True)).
report_status_changed = Signal()
