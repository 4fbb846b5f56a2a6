"""The public "Report a problem" form and the tracking-number lookup."""

import uuid

from django import forms
from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from geo_ops.reports.models import Category

from .photos import PhotoError, photo_clean

PHOTO_TYPES = "image/jpeg,image/png,image/webp"


class ReportProblemForm(forms.Form):
    """Category, subcategory, description, optional photo and the point clicked on the map.

    Choices come from the categories table in the page's language. The location and the text
    are checked again by the intake service; its errors are put on the matching field here.
    """

    category = forms.ChoiceField(label=_("Category"))
    subcategory = forms.ChoiceField(label=_("Type of problem"))
    description = forms.CharField(
        label=_("Description"),
        max_length=settings.GEO_OPS_DESCRIPTION_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Describe the problem.")},
    )
    photo = forms.FileField(
        label=_("Photo (optional)"),
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": PHOTO_TYPES}),
    )
    lat = forms.FloatField(
        widget=forms.HiddenInput,
        min_value=-90,
        max_value=90,
        error_messages={"required": _("Click the map where the problem is.")},
    )
    lon = forms.FloatField(
        widget=forms.HiddenInput,
        min_value=-180,
        max_value=180,
        error_messages={"required": _("Click the map where the problem is.")},
    )
    submission_id = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        language = get_language() or "en"
        categories = list(Category.objects.filter(active=True).order_by("sort_order", "code"))
        top = [c for c in categories if not c.parent_id]
        self._parent_of = {c.code: c.parent.code for c in categories if c.parent_id}
        self.fields["category"].choices = [("", _("Choose a category"))] + [
            (c.code, c.name(language)) for c in top
        ]
        # Grouped by category: without JavaScript the list still makes sense; with it, the
        # page shows only the chosen category's group.
        self.fields["subcategory"].choices = [("", _("Choose the type of problem"))] + [
            (
                parent.name(language),
                [(c.code, c.name(language)) for c in categories if c.parent_id == parent.pk],
            )
            for parent in top
        ]
        if not self.is_bound:
            self.initial.setdefault("submission_id", uuid.uuid4().hex)
        self.clean_photo_result = None

    def clean_photo(self):
        upload = self.cleaned_data.get("photo")
        if not upload:
            return None
        try:
            self.clean_photo_result = photo_clean(upload=upload)
        except PhotoError as exc:
            raise forms.ValidationError(str(exc), code="invalid_photo") from None
        return upload

    def clean(self):
        cleaned = super().clean()
        category, subcategory = cleaned.get("category"), cleaned.get("subcategory")
        if category and subcategory and self._parent_of.get(subcategory) != category:
            self.add_error("subcategory", _("Choose a type of problem of the chosen category."))
        return cleaned

    def add_intake_error(self, field: str, message: str) -> None:
        """Put an error of the intake service (geo_ops.reports.errors.IntakeError) on a field."""
        target = {
            "category": "subcategory",
            "location": "lat",
            "lat": "lat",
            "lon": "lat",
            "description": "description",
        }.get(field)
        if target is None:
            self.add_error(None, message)
        else:
            self.add_error(target, message)

    @property
    def location_errors(self):
        # Both coordinates missing is one problem, said once.
        return list(dict.fromkeys([*self.errors.get("lat", []), *self.errors.get("lon", [])]))


class TrackLookupForm(forms.Form):
    number = forms.CharField(
        label=_("Tracking number"),
        max_length=20,
        widget=forms.TextInput(attrs={"placeholder": "EP00000123", "autocomplete": "off"}),
    )
