"""geo_ops: geospatial field operations for a municipality's citizen-report service."""
