"""GET /api/v1/stats/annual/?year=YYYY: the same JSON as `annual_report --format json`."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..statistics import annual_statistics


class YearSerializer(serializers.Serializer):
    year = serializers.IntegerField(min_value=2000, max_value=2100)


class AnnualStatisticsView(APIView):
    """Received, closed and processed reports of a year, per category, channel and branch."""

    @extend_schema(
        parameters=[OpenApiParameter("year", OpenApiTypes.INT, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        params = YearSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(annual_statistics(year=params.validated_data["year"]))
