"""Route suggestions: vehicle routing over crews' jobs, nearby reports and hotspot cleanups.

- `instances`, `solver`, `checks`: the routing core without Django (benchmark file formats,
  the one module that knows PyVRP, an independent solution checker);
- `travel`: the TravelTimes interface (great-circle by default, replaceable by pgRouting);
- `inputs` (reads), `planner` (the model of a crew's day: crews ready to plan, grouped by
  skills, the run) with `group_model` (a group's matrices, windows, prizes and solver instance),
  `schedule` (solved routes into times, the break, disposal stops) and `plan_types` (its data);
  `services` (writes), `validate` (checks of a stored plan), `selectors` (scopes, the crew map
  hook), `tasks` (Celery, calling services; services queue it by name);
- `models`: RoutePlan and its routes, stops and stops left out; DisposalSite; CrewRouting.
"""
