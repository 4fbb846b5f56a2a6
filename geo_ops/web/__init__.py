"""The web edge shared by every app: what a request must pass before any app sees it, and the
error shapes answered when it does not (bad input, throttling, an outage, health checks).

It sits at the bottom of the layers beside geo_ops.db (pyproject [tool.importlinter]): apps import
it, it imports no app. Where an app needs its own error format (Open311), the app registers it
at start-up instead of this package importing the app.
"""
