"""Who may use the planner dashboard and the hotspot API: holders of `hotspots.use_planner`.

The permission is given to the `planner` group (migration maps 0003, moved to this app by
hotspots 0002): add a planner to that group in the admin. Superusers have every permission.
"""

from rest_framework.permissions import BasePermission

PLANNER_PERMISSION = "hotspots.use_planner"
PLANNER_GROUP = "planner"


def is_planner(user) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(PLANNER_PERMISSION))


class IsPlanner(BasePermission):
    """Anonymous requests get 401/403 from DRF's authentication; signed-in non-planners 403."""

    message = "Only planners may use the hotspot and KPI API."

    def has_permission(self, request, view) -> bool:
        return is_planner(request.user)
