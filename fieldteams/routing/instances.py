"""Vehicle-routing instances: the public benchmark file formats and the one in-memory form.

Two file formats are read, each with its own distance convention, and the convention is kept
exactly: the solver works on the integer matrix `VrpInstance.distances`, and a distance in the
file's own units is that integer divided by `VrpInstance.scale`.

- CVRPLIB/TSPLIB `.vrp` (the Augerat sets): `EUC_2D`, Euclidean distance rounded to the nearest
  integer (`scale` 1). The vehicle count is not a header there: it is the `-kN` of the name.
- LKH-3's CVRPTW `.vrptw` (the Solomon sets): `SCALE 10` with `FLOOR_2D`, the classic Solomon
  convention: Euclidean, times 10, truncated, divided by 10 (`scale` 10, so the integer matrix is
  exact at 0.1 resolution). Travel time equals distance; time windows and service times are in
  the same units and are scaled by the same factor for the solver.

A planner that builds routes from the database makes a `VrpInstance` directly (metres and
seconds, `scale` 1, an explicit `durations` matrix from its travel-time provider).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class InstanceFormatError(ValueError):
    """The file is not a readable CVRPLIB / LKH-3 routing instance."""


@dataclass(frozen=True, eq=False)
class VrpInstance:
    """A vehicle-routing instance; per-node sequences are aligned with `node_ids`."""

    name: str
    node_ids: tuple[int, ...]  # node numbers as in the file, in matrix order
    depot: int  # node number of the (main) depot
    coordinates: np.ndarray  # (n, 2) floats
    demands: tuple[int, ...]
    capacity: int
    vehicles: int | None  # hard limit on the number of routes; None = unlimited
    distances: np.ndarray  # (n, n) int64; the file's distance is distances / scale
    scale: int = 1
    time_windows: tuple[tuple[float, float], ...] | None = None  # file units (not scaled)
    service_times: tuple[float, ...] | None = None  # file units (not scaled)
    durations: np.ndarray | None = None  # (n, n) int64 travel times * scale; None: = distances
    other_depots: tuple[int, ...] = ()  # further depots (crew yards, disposal sites)
    edge_weight_type: str = "EXPLICIT"  # EUC_2D, FLOOR_2D (the file conventions) or EXPLICIT
    comment: str = ""
    _index: dict[int, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.node_ids)
        index = {node: i for i, node in enumerate(self.node_ids)}
        if len(index) != n:
            raise ValueError("node ids must be unique")
        if self.depot not in index or any(d not in index for d in self.other_depots):
            raise ValueError("every depot must be a node of the instance")
        if self.coordinates.shape != (n, 2) or len(self.demands) != n:
            raise ValueError("coordinates and demands must have one entry per node")
        if self.distances.shape != (n, n):
            raise ValueError("the distance matrix must be n x n")
        if self.durations is not None and self.durations.shape != (n, n):
            raise ValueError("the duration matrix must be n x n")
        for name in ("time_windows", "service_times"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"{name} must have one entry per node")
        object.__setattr__(self, "_index", index)

    @property
    def dimension(self) -> int:
        """Number of nodes, depots included (the file's DIMENSION)."""
        return len(self.node_ids)

    @property
    def depots(self) -> tuple[int, ...]:
        return (self.depot, *self.other_depots)

    @property
    def customers(self) -> tuple[int, ...]:
        """Node numbers of the customers (every node that is not a depot), in file order."""
        depots = set(self.depots)
        return tuple(n for n in self.node_ids if n not in depots)

    def index(self, node: int) -> int:
        """Row of `node` (a node number as in the file) in the matrices."""
        return self._index[node]

    def demand(self, node: int) -> int:
        return self.demands[self._index[node]]

    def distance(self, a: int, b: int) -> float:
        """Distance between two nodes in the file's own convention and units."""
        units = int(self.distances[self._index[a], self._index[b]])
        return units if self.scale == 1 else units / self.scale

    def to_units(self, value: float) -> int:
        """A distance or time in file units as the solver's integer (exact for the files)."""
        return round(value * self.scale)

    def from_units(self, units: int) -> float:
        """The solver's integer back in file units (an int when the scale is 1)."""
        return units if self.scale == 1 else round(units / self.scale, 6)


def euclidean_matrix(coordinates: np.ndarray, *, edge_weight_type: str, scale: int) -> np.ndarray:
    """Integer distance matrix in the given convention (distance in file units * scale).

    EUC_2D rounds the Euclidean distance to the nearest integer (TSPLIB `nint`). FLOOR_2D
    truncates; with SCALE the coordinates are scaled first, so `floor(scale * d)`: for integer
    coordinates that is `floor(sqrt(scale^2 * d2))`, computed on exact integers so that a perfect
    square never becomes 29.999... (IEEE sqrt of a perfect square below 2^52 is exact).
    """
    xy = np.asarray(coordinates, dtype=np.float64)
    diff = xy[:, None, :] - xy[None, :, :]
    d2 = (diff**2).sum(axis=-1)
    if edge_weight_type == "EUC_2D":
        # nint as in TSPLIB: floor(d + 0.5); d is never exactly k + 0.5 for integer coordinates.
        return (np.floor(np.sqrt(d2) * scale + 0.5)).astype(np.int64)
    if edge_weight_type == "FLOOR_2D":
        return np.floor(np.sqrt(d2 * (scale * scale))).astype(np.int64)
    raise InstanceFormatError(f"unsupported EDGE_WEIGHT_TYPE {edge_weight_type!r}")


_SECTIONS = {
    "NODE_COORD_SECTION",
    "DEMAND_SECTION",
    "TIME_WINDOW_SECTION",
    "SERVICE_TIME_SECTION",
    "DEPOT_SECTION",
}


def read_instance(path: str | Path) -> VrpInstance:
    """Parse a CVRPLIB `.vrp` or LKH-3 `.vrptw` file (format recognised from its headers)."""
    path = Path(path)
    try:
        text = path.read_text()
    except UnicodeDecodeError as exc:
        raise InstanceFormatError(f"{path.name}: not a text file") from exc
    return parse_instance(text, default_name=path.name.split(".")[0])


def parse_instance(text: str, *, default_name: str = "instance") -> VrpInstance:
    """Parse the text of a CVRPLIB `.vrp` or LKH-3 `.vrptw` instance."""
    headers, sections = _split(text)
    name = headers.get("NAME", default_name)
    dimension, capacity, edge_weight_type, scale = _header_values(headers, name)
    table = _Sections(sections, name=name, dimension=dimension)
    try:
        coords = table.rows("NODE_COORD_SECTION", 3)
        node_ids = tuple(coords)
        coordinates = np.array([[float(v) for v in coords[n]] for n in node_ids])
        demand_rows = table.rows("DEMAND_SECTION", 2)
        demands = tuple(int(demand_rows[n][0]) for n in node_ids)
        depot_ids = [int(r[0]) for r in sections.get("DEPOT_SECTION", [["1"]])]
        depot_ids = [d for d in depot_ids if d != -1]
        tw_rows = table.rows("TIME_WINDOW_SECTION", 3, required=False)
        st_rows = table.rows("SERVICE_TIME_SECTION", 2, required=False)
    except (KeyError, ValueError) as exc:
        raise InstanceFormatError(f"{name}: malformed section ({exc})") from exc
    if not depot_ids or any(d not in coords for d in depot_ids):
        raise InstanceFormatError(f"{name}: DEPOT_SECTION must name nodes of the instance")

    time_windows = None
    if tw_rows:
        time_windows = tuple((float(tw_rows[n][0]), float(tw_rows[n][1])) for n in node_ids)
    return VrpInstance(
        name=name,
        node_ids=node_ids,
        depot=depot_ids[0],
        coordinates=coordinates,
        demands=demands,
        capacity=capacity,
        vehicles=_vehicle_count(headers, name),
        distances=euclidean_matrix(coordinates, edge_weight_type=edge_weight_type, scale=scale),
        scale=scale,
        time_windows=time_windows,
        service_times=_service_times(headers, st_rows, node_ids, depot_ids),
        other_depots=tuple(depot_ids[1:]),
        edge_weight_type=edge_weight_type,
        comment=headers.get("COMMENT", ""),
    )


def _split(text: str) -> tuple[dict[str, str], dict[str, list[list[str]]]]:
    """The file's `KEY : value` headers (keys upper-cased) and its sections' rows, up to EOF."""
    headers: dict[str, str] = {}
    sections: dict[str, list[list[str]]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "EOF":
            break
        word = line.split()[0].rstrip(":")
        if word in _SECTIONS:
            current = word
            sections[current] = []
            continue
        if ":" in line and not line[0].isdigit() and line[0] != "-":
            key, _, value = line.partition(":")
            headers[key.strip().upper()] = value.strip()
            current = None
            continue
        if current is None:
            raise InstanceFormatError(f"unexpected line outside any section: {line!r}")
        sections[current].append(line.split())
    return headers, sections


def _header_values(headers: dict[str, str], name: str) -> tuple[int, int, str, int]:
    """DIMENSION, CAPACITY, EDGE_WEIGHT_TYPE and SCALE, checked against what is supported."""
    problem_type = headers.get("TYPE", "CVRP").upper()
    if problem_type not in {"CVRP", "CVRPTW", "VRPTW"}:
        raise InstanceFormatError(f"{name}: unsupported TYPE {problem_type!r}")
    try:
        dimension = int(headers["DIMENSION"])
        capacity = int(headers["CAPACITY"])
    except (KeyError, ValueError) as exc:
        raise InstanceFormatError(f"{name}: DIMENSION and CAPACITY must be integers") from exc
    edge_weight_type = headers.get("EDGE_WEIGHT_TYPE", "EUC_2D").upper()
    scale = int(float(headers.get("SCALE", "1")))
    if edge_weight_type not in {"EUC_2D", "FLOOR_2D"}:
        raise InstanceFormatError(f"{name}: unsupported EDGE_WEIGHT_TYPE {edge_weight_type!r}")
    if edge_weight_type == "EUC_2D" and scale != 1:
        raise InstanceFormatError(f"{name}: SCALE is only supported with FLOOR_2D")
    return dimension, capacity, edge_weight_type, scale


@dataclass(frozen=True)
class _Sections:
    """A file's sections, read as one row per node of the given width."""

    sections: dict[str, list[list[str]]]
    name: str
    dimension: int

    def rows(self, section: str, width: int, *, required: bool = True) -> dict[int, list[str]]:
        """Node number -> the row's other fields; {} for a missing optional section."""
        if section not in self.sections:
            if required:
                raise InstanceFormatError(f"{self.name}: missing {section}")
            return {}
        out: dict[int, list[str]] = {}
        for row in self.sections[section]:
            if len(row) != width:
                raise InstanceFormatError(f"{self.name}: {section} row {' '.join(row)!r}")
            out[int(row[0])] = row[1:]
        if len(out) != self.dimension:
            raise InstanceFormatError(
                f"{self.name}: {section} has {len(out)} rows, not {self.dimension}"
            )
        return out


def _service_times(
    headers: dict[str, str],
    st_rows: dict[int, list[str]],
    node_ids: tuple[int, ...],
    depot_ids: list[int],
) -> tuple[float, ...] | None:
    """Per-node service times from SERVICE_TIME_SECTION, else the SERVICE_TIME header."""
    if st_rows:
        return tuple(float(st_rows[n][0]) for n in node_ids)
    if "SERVICE_TIME" in headers:
        # One service time for every customer (LKH-3 header); the depot has none.
        st = float(headers["SERVICE_TIME"])
        return tuple(0.0 if n in depot_ids else st for n in node_ids)
    return None


def _vehicle_count(headers: dict[str, str], name: str) -> int | None:
    """The VEHICLES header; else the `-kN` of a CVRPLIB name; else the COMMENT's truck count."""
    if "VEHICLES" in headers:
        return int(headers["VEHICLES"])
    match = re.search(r"-k(\d+)$", name)
    if match:
        return int(match.group(1))
    match = re.search(r"No of trucks:\s*(\d+)", headers.get("COMMENT", ""))
    return int(match.group(1)) if match else None
