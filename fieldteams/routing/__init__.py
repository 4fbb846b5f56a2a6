"""Route suggestions: vehicle routing over crews' jobs, nearby reports and hotspot cleanups.

- `instances`, `solver`, `checks`: the routing core without Django (benchmark file formats,
  the one module that knows PyVRP, an independent solution checker);
- `travel`: the TravelTimes interface (great-circle by default, replaceable by pgRouting);
- `inputs` (reads), `planner` (the model of a crew's day), `services` (writes), `validate`
  (checks of a stored plan), `selectors` (scopes, the crew map hook), `tasks` (Celery);
- `models`: RoutePlan and its routes, stops and stops left out; DisposalSite; CrewRouting.
"""
