"""Views of the reports API: parse, call the service or selector, serialize."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework_gis.filters import InBBoxFilter
from rest_framework_gis.pagination import GeoJsonPagination

from layers.selectors import branch_list

from ..privacy import (
    public_bbox_filter,
    public_location_expression,
    public_text_expression,
    publicly_located,
)
from ..selectors import point_from_coordinates, report_public_queryset
from ..services import Reporter, report_create
from .filters import ReportFilter
from .serializers import (
    BranchFeatureSerializer,
    ReportCreatedSerializer,
    ReportFeatureSerializer,
    ReportIntakeSerializer,
    ReportStaffFeatureSerializer,
)

CONTACT_PERMISSION = "reports.view_reportercontact"


class ReportBBoxFilter(InBBoxFilter):
    """?in_bbox= on the location the caller may see: the public one for the public, so that
    ever smaller boxes cannot narrow a coarsened report down to its exact point."""

    def filter_queryset(self, request, queryset, view):
        bbox = self.get_filter_bbox(request)
        if bbox is None or view._sees_contacts():
            return super().filter_queryset(request, queryset, view)
        return public_bbox_filter(queryset, bbox)


class ReportPagination(GeoJsonPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ReportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Citizen reports: POST to report a problem, GET to list them as GeoJSON."""

    pagination_class = ReportPagination
    filter_backends = [DjangoFilterBackend, ReportBBoxFilter]
    filterset_class = ReportFilter
    bbox_filter_field = "location"
    bbox_filter_include_overlapping = True

    def _sees_contacts(self) -> bool:
        return self.request.user.has_perm(CONTACT_PERMISSION)

    def get_queryset(self):
        queryset = report_public_queryset()
        if self._sees_contacts():
            return queryset.select_related("contact")
        # The public sees sensitive categories' locations coarsened (geo_ops.reports.privacy)
        # and no report of a hidden category.
        return queryset.filter(publicly_located()).annotate(
            public_location=public_location_expression(),
            public_description=public_text_expression("description"),
        )

    def get_serializer_class(self):
        if self.action == "create":
            return ReportIntakeSerializer
        return ReportStaffFeatureSerializer if self._sees_contacts() else ReportFeatureSerializer

    @extend_schema(request=ReportIntakeSerializer, responses={201: ReportCreatedSerializer})
    def create(self, request, *args, **kwargs):
        serializer = ReportIntakeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reporter = data.get("reporter") or {}
        user = request.user if request.user.is_authenticated else None
        report, created = report_create(
            category_code=data["category"],
            location=point_from_coordinates(lon=data.get("lon"), lat=data.get("lat")),
            channel=data["channel"],
            description=data["description"],
            address=data["address"],
            reporter=Reporter(**reporter),
            idempotency_key=data.get("idempotency_key"),
            actor=user,
            actor_label=f"user:{user.username}" if user else f"api:{data['channel']}",
        )
        body = ReportCreatedSerializer(report).data
        if created:
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"})


class BranchViewSet(viewsets.ReadOnlyModelViewSet):
    """Branch municipalities with their boundaries (GeoJSON)."""

    serializer_class = BranchFeatureSerializer
    pagination_class = None
    lookup_field = "code"

    def get_queryset(self):
        return branch_list()
