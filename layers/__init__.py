"""Reference layers: branch municipalities, districts and the point-to-boundary joins."""
