"""Serializers of the reports API: thin, the rules live in services and selectors."""

from rest_framework import serializers
from rest_framework_gis.fields import GeometryField
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from layers.models import BranchMunicipality

from ..models import Report, Status


class ReporterSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=True)
    phone = serializers.CharField(required=False, allow_blank=True, default="")
    email = serializers.CharField(required=False, allow_blank=True, default="")


class ReportIntakeSerializer(serializers.Serializer):
    """The POST body. Coordinates are checked by the intake service so that the REST API and
    Open311 give the same errors; this only takes the shapes apart."""

    category = serializers.CharField()
    location = serializers.JSONField(required=False, help_text='GeoJSON {"type": "Point", ...}')
    lat = serializers.JSONField(required=False)
    lon = serializers.JSONField(required=False)
    description = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    address = serializers.CharField(required=False, allow_blank=True, default="")
    channel = serializers.CharField(required=False, default="web")
    reporter = ReporterSerializer(required=False)
    idempotency_key = serializers.CharField(required=False, allow_blank=True, allow_null=True)

    def validate(self, attrs):
        location = attrs.get("location")
        if location is not None:
            if not isinstance(location, dict) or location.get("type") != "Point":
                example = '{"type": "Point", "coordinates": [lon, lat]}'
                raise serializers.ValidationError(
                    {"location": f"Must be a GeoJSON Point: {example}."}
                )
            coordinates = location.get("coordinates")
            if not isinstance(coordinates, list | tuple) or len(coordinates) != 2:
                raise serializers.ValidationError(
                    {"location": "coordinates must be [longitude, latitude]."}
                )
            attrs["lon"], attrs["lat"] = coordinates
        elif "lat" not in attrs and "lon" not in attrs:
            raise serializers.ValidationError(
                {"location": "Give a GeoJSON Point in location, or lat and lon."}
            )
        return attrs


class ReportCreatedSerializer(serializers.Serializer):
    """The intake response. A report of a problem already reported nearby is stored with status
    "duplicate": `duplicate_of` then names the original, whose tracking number is the one to
    follow (`follow_tracking_number`; for other reports it is the report's own)."""

    # A plain Serializer with its fields spelled out rather than a ModelSerializer: every intake
    # builds one, and a ModelSerializer derives its fields from the model on each instance,
    # which was a tenth of the intake's Python time (bench/live_intake.py).

    id = serializers.IntegerField(read_only=True)
    tracking_number = serializers.CharField(read_only=True)
    branch = serializers.CharField(source="branch.code", read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    due_at = serializers.DateTimeField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    duplicate_of = serializers.SerializerMethodField(
        help_text="tracking number of the open report this one duplicates, else null"
    )
    follow_tracking_number = serializers.SerializerMethodField(
        help_text="the tracking number to follow: the original's for a duplicate"
    )

    def get_duplicate_of(self, report) -> str | None:
        return report.duplicate_of.tracking_number if report.duplicate_of_id else None

    def get_follow_tracking_number(self, report) -> str:
        return self.get_duplicate_of(report) or report.tracking_number


class ReportFeatureSerializer(GeoFeatureModelSerializer):
    """A report as a public GeoJSON feature: no reporter contact, ever, and the public location
    (coarsened for sensitive categories: the view annotates it, see geo_ops.reports.privacy)."""

    location = GeometryField(source="public_location", read_only=True)
    description = serializers.CharField(source="public_description", read_only=True)
    category = serializers.SlugRelatedField(slug_field="code", read_only=True)
    subcategory = serializers.SlugRelatedField(slug_field="code", read_only=True)
    branch = serializers.SlugRelatedField(slug_field="code", read_only=True)
    category_name_en = serializers.CharField(source="category.name_en", read_only=True)
    category_name_ar = serializers.CharField(source="category.name_ar", read_only=True)

    class Meta:
        model = Report
        geo_field = "location"
        fields = [
            "id",
            "tracking_number",
            "category",
            "category_name_en",
            "category_name_ar",
            "subcategory",
            "status",
            "priority",
            "channel",
            "branch",
            "description",
            "created_at",
            "updated_at",
            "closed_at",
            "due_at",
        ]


class ReportStaffFeatureSerializer(ReportFeatureSerializer):
    """Staff with permission to view reporter contacts also get them, and the exact location."""

    location = GeometryField(read_only=True)
    description = serializers.CharField(read_only=True)
    reporter = serializers.SerializerMethodField()

    class Meta(ReportFeatureSerializer.Meta):
        fields = ReportFeatureSerializer.Meta.fields + ["reporter", "external_id"]

    def get_reporter(self, report) -> dict | None:
        contact = getattr(report, "contact", None)
        if contact is None:
            return None
        return {"name": contact.name, "phone": contact.phone, "email": contact.email}


class BranchFeatureSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = BranchMunicipality
        geo_field = "geom"
        fields = ["id", "code", "name_en", "name_ar", "population"]
