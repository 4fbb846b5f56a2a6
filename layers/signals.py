"""Signals layers sends so that apps depending on it can react without layers importing them."""

from django.dispatch import Signal

# Sent inside the import transaction after boundaries were inserted or changed.
# Arguments: layer ("branch" or "district"), ids (the changed boundary ids).
# Receivers return the number of rows they re-joined, which the import summary reports.
boundaries_changed = Signal()
