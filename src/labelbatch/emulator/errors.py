"""The error a Rekognition operation answers with, as the AWS JSON protocol carries it."""


class RekognitionError(Exception):
    """An AWS error response: its code (the exception name SDKs raise), message and HTTP status."""

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def invalid_parameter(message: str) -> RekognitionError:
    return RekognitionError("InvalidParameterException", message)


def internal_server_error(message: str = "Internal server error") -> RekognitionError:
    # The only Rekognition error that is a fault (HTTP 500) rather than a client error.
    return RekognitionError("InternalServerError", message, status=500)
