"""The demo year generator and its hotspot truth check: development and test tooling, installed by
the local and test settings only (production code does not carry it)."""
