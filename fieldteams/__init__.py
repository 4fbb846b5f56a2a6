"""Field organisation: departments, crews, shifts, the business calendar, dispatch and routes."""
