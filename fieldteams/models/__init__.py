"""Field organisation: departments, crews and their members, shifts, supervisors, the business
calendar, assignments of reports to crews, the flags that call a supervisor's attention,
preventive work, and route plans (routing.py).

Crews cover branch municipalities and are skilled for categories; dispatch (services.py) picks
among them. An Assignment is one crew's job on one report, with its own workflow; the report's
public status follows it (see workflow.py). Every change is also written to the report's
append-only audit trail (geo_ops.reports.models.ReportEvent).
"""

# _default_working_days: migration 0001 names it as fieldteams.models._default_working_days.
from .calendar import (
    BusinessCalendar,
    Holiday,
    HolidayKind,
    HolidayManager,
    _default_working_days,
)
from .crews import CodeManager, Crew, CrewMember, CrewShift, Department, Supervisor, Weekday
from .jobs import ACTIVE_STATES, Assignment, AssignmentState, FlagKind, SupervisorFlag
from .preventive import PreventiveWork
from .routing import (
    CrewRoute,
    CrewRouting,
    DisposalSite,
    DropReason,
    PlanStatus,
    RouteDrop,
    RoutePlan,
    RouteStop,
    StopKind,
)

__all__ = [
    "ACTIVE_STATES",
    "Assignment",
    "AssignmentState",
    "BusinessCalendar",
    "CodeManager",
    "Crew",
    "CrewMember",
    "CrewRoute",
    "CrewRouting",
    "CrewShift",
    "Department",
    "DisposalSite",
    "DropReason",
    "FlagKind",
    "Holiday",
    "HolidayKind",
    "HolidayManager",
    "PlanStatus",
    "PreventiveWork",
    "RouteDrop",
    "RoutePlan",
    "RouteStop",
    "StopKind",
    "Supervisor",
    "SupervisorFlag",
    "Weekday",
    "_default_working_days",
]
