"""The route planner's vocabulary (fieldteams.routing.planner): its options, its result (routes
of planned stops, stops left out with the reason), the plan clock and a crew ready to plan.
Plain data, no database access and no solver."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .inputs import CrewInput, Point2, StopInput
from .solver import SOLVER_NAME

HORIZON_S = 3 * 24 * 3600  # "no limit" on the plan's clock


@dataclass
class PlanOptions:
    time_limit_s: float = 10.0
    include_unassigned: bool = False
    unassigned_radius_m: float = 3000.0
    include_hotspots: bool = False
    sla: str = "window"  # or "penalty"
    seed: int = 0


@dataclass
class PlannedStop:
    kind: str
    point: Point2
    arrival: datetime
    start: datetime
    departure: datetime
    travel_s: float = 0.0
    distance_m: float = 0.0
    service_s: float = 0.0
    load: int = 0
    load_after: int = 0
    trip: int = 0
    kept: bool = False
    stop: StopInput | None = None
    disposal_site: object | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    due_at: datetime | None = None
    late: bool = False


@dataclass
class PlannedRoute:
    crew: CrewInput
    stops: list[PlannedStop]
    distance_m: float = 0.0
    driving_s: float = 0.0
    service_s: float = 0.0
    waiting_s: float = 0.0
    break_s: float = 0.0
    working_s: float = 0.0
    trips: int = 1
    line: list[Point2] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        return self.stops[0].departure

    @property
    def end(self) -> datetime:
        return self.stops[-1].arrival


@dataclass
class DroppedStop:
    stop: StopInput
    reason: str
    detail: str


@dataclass
class PlanResult:
    routes: list[PlannedRoute]
    dropped: list[DroppedStop]
    check_errors: list[str]
    notes: list[str]
    solver: str = SOLVER_NAME
    travel_times: str = ""
    runtime_s: float = 0.0


def hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M")


@dataclass(frozen=True)
class PlanClock:
    """The plan's clock: whole seconds since the plan day's local midnight (`origin`)."""

    origin: datetime

    def secs(self, moment: datetime) -> int:
        return int(round((moment - self.origin).total_seconds()))

    def at(self, seconds: float) -> datetime:
        return self.origin + timedelta(seconds=float(seconds))


@dataclass
class Vehicle:
    """A crew ready to plan: where and when it starts, its limits on the plan clock."""

    crew: CrewInput
    start_point: Point2
    start_s: int
    end_s: int  # back at the depot by (shift end, shortened by the break when one is taken)
    break_s: int  # break length to schedule (0: none)
    break_earliest_s: int
    break_latest_s: int
    kept: list[PlannedStop]
    first_stop: PlannedStop  # the START stop
