"""API-wide pieces: the exception handler that turns intake errors into 400s."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from geo_ops.reports.errors import IntakeError


def exception_handler(exc, context):
    """DRF's handler, plus IntakeError as a 400 in DRF's own shape: {field: [reason]}."""
    if isinstance(exc, IntakeError):
        return Response({exc.field: [str(exc.message)]}, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
