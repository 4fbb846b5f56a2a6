"""Database plumbing that imports no app: prepared statements (`prepared`), the COPY staging of
bulk loads (`staging`), thin wrappers for PostGIS functions Django lacks (`functions`), and the
content types that follow a model moved between apps in a migration (`content_types`)."""
