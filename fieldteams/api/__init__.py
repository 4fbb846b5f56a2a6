"""The crew and supervisor REST API (mounted under /api/v1/ by geo_ops.api_urls)."""
