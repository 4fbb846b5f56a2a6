"""Database plumbing that imports no app: prepared statements (`prepared`), the COPY staging of
bulk loads (`staging`) and thin wrappers for PostGIS functions Django lacks (`functions`)."""
