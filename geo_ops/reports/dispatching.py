"""The report core's one way to dispatch: a handler that fieldteams registers at start-up.

The report core sits below fieldteams and never imports it; intake hands a new report over here,
in its own transaction, and fieldteams' AppConfig.ready() registers `report_dispatch`.
"""

from collections.abc import Callable

from django.conf import settings

_handler: Callable | None = None


def dispatch_handler_register(handler: Callable) -> None:
    """Make `handler(report=...)` the dispatch of every new report (fieldteams' ready())."""
    global _handler
    _handler = handler


def report_hand_over(*, report) -> None:
    """Dispatch a new report now (SLA clock and crew), unless settings turn it off or no
    dispatch is installed."""
    if settings.GEO_OPS_DISPATCH_ON_INTAKE and _handler is not None:
        _handler(report=report)
