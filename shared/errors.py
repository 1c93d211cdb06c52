"""Typed errors shared by gateway and executor; the gateway maps each to one HTTP status."""


class AppError(Exception):
    """Base class: `status` is the HTTP status the gateway answers with."""

    status = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(AppError):
    status = 404


class InvalidPath(AppError):
    status = 400


class Conflict(AppError):
    status = 409


class PayloadTooLarge(AppError):
    status = 413


class Unauthorized(AppError):
    status = 401


class ServiceUnavailable(AppError):
    status = 503


class SandboxError(AppError):
    """The sandbox could not be created, started or reached."""

    status = 503


class InvalidInput(AppError):
    """Input that is well-formed but cannot be used, e.g. a file that does not parse as CSV."""

    status = 400


class Forbidden(AppError):
    status = 403


class Unprocessable(AppError):
    status = 422


class BadGateway(AppError):
    """A service the gateway relies on (GitHub) failed or answered something unexpected."""

    status = 502
