"""The one error type intake raises for bad input, shared by the REST API and Open311."""


class IntakeError(Exception):
    """Bad input: names the field and says why. Nothing has been stored when it is raised."""

    def __init__(self, field: str, message: str, code: str = "invalid"):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.code = code
