"""Query-string filters of the reports list."""

import django_filters

from ..models import Category, Report, Status


class ReportFilter(django_filters.FilterSet):
    category = django_filters.CharFilter(
        method="filter_category", help_text="category or subcategory code"
    )
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    branch = django_filters.CharFilter(field_name="branch__code")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    updated_after = django_filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")

    class Meta:
        model = Report
        fields = ["category", "status", "branch", "channel"]

    def filter_category(self, queryset, name, value):
        category = Category.objects.filter(code=value).first()
        if category is None:
            return queryset.none()
        return queryset.in_category(category)
