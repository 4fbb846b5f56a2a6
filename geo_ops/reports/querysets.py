"""Reusable query vocabulary for reports."""

from django.contrib.gis.db import models

from .choices import OPEN_STATUSES


class ReportQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def in_branch(self, branch):
        return self.filter(branch=branch)

    def in_category(self, category):
        """Reports of a category, or of one subcategory when given one."""
        if category.parent_id:
            return self.filter(subcategory=category)
        return self.filter(category=category)
