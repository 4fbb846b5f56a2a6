"""Vehicle routing for route suggestions: instances, the solver module and a solution checker.

Independent of the Django models: the planner (RoutePlan) turns crews and jobs into a
`VrpInstance` and calls `fieldteams.routing.solver.solve`.
"""
