"""Typed errors shared by gateway and executor; the gateway maps each to one HTTP status.

Every error also carries a machine-readable `code` (README: Errors): clients decide by it, never
by the human `detail`. Each class has a default; a raise site passes a more specific one where a
class has several meanings (a 404 for a chat, a file or a variable; a 503 for the sandbox, the
LLM or the chat store).
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Every `code` an error body may carry; the README's error table documents each."""

    INVALID_INPUT = "invalid_input"
    INVALID_PATH = "invalid_path"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_MODE_OFF = "sign_in_mode_off"
    NOT_SIGNED_IN = "not_signed_in"
    SESSION_EXPIRED = "session_expired"
    INVALID_LOGIN_LINK = "invalid_login_link"
    FORBIDDEN = "forbidden"
    CROSS_SITE_REQUEST = "cross_site_request"
    USER_NOT_ALLOWED = "user_not_allowed"
    IMPORT_NOT_ALLOWED = "import_not_allowed"
    TOKEN_NOT_ALLOWED = "token_not_allowed"
    NOT_FOUND = "not_found"
    CHAT_NOT_FOUND = "chat_not_found"
    FILE_NOT_FOUND = "file_not_found"
    VARIABLE_NOT_FOUND = "variable_not_found"
    TOKEN_NOT_FOUND = "token_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    CHAT_BUSY = "chat_busy"
    RUN_STOPPED = "run_stopped"
    RUN_INTERRUPTED = "run_interrupted"
    RUN_NOT_FOUND = "run_not_found"
    PACKAGE_NOT_FOUND = "package_not_found"
    INSTALL_FAILED = "install_failed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    DISK_QUOTA_EXCEEDED = "disk_quota_exceeded"
    QUOTA_EXCEEDED = "quota_exceeded"
    USER_BLOCKED = "user_blocked"
    INVALID_REQUEST = "invalid_request"
    INTERNAL_ERROR = "internal_error"
    BAD_GATEWAY = "bad_gateway"
    SANDBOX_ERROR = "sandbox_error"
    SANDBOX_TIMEOUT = "sandbox_timeout"
    GITHUB_UNAVAILABLE = "github_unavailable"
    LLM_ERROR = "llm_error"
    LLM_UNAVAILABLE = "llm_unavailable"
    SERVICE_UNAVAILABLE = "service_unavailable"
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"
    STORE_UNAVAILABLE = "store_unavailable"
    LLM_NOT_CONFIGURED = "llm_not_configured"


class AppError(Exception):
    """Base class: `status` is the HTTP status the gateway answers with, `code` the default
    machine-readable reason, which a raise site may make more specific."""

    status: int = 500
    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(self, detail: str, code: ErrorCode | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(AppError):
    status = 404
    code = ErrorCode.NOT_FOUND


class InvalidPath(AppError):
    status = 400
    code = ErrorCode.INVALID_PATH


class Conflict(AppError):
    status = 409
    code = ErrorCode.CONFLICT


class PayloadTooLarge(AppError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE


class Unauthorized(AppError):
    status = 401
    code = ErrorCode.NOT_SIGNED_IN


class QuotaExceeded(AppError):
    """A per-user limit (USER_MAX_CHATS, USER_MAX_RUNNING_SANDBOXES, USER_DISK_LIMIT,
    USER_LLM_TOKENS_PER_DAY) would be passed; the detail names it and what to do."""

    status = 429
    code = ErrorCode.QUOTA_EXCEEDED


class ServiceUnavailable(AppError):
    status = 503
    code = ErrorCode.SERVICE_UNAVAILABLE


class SandboxError(AppError):
    """The sandbox could not be created, started or reached."""

    status = 503
    code = ErrorCode.SANDBOX_UNAVAILABLE


class InvalidInput(AppError):
    """Input that is well-formed but cannot be used, e.g. a file that does not parse as CSV."""

    status = 400
    code = ErrorCode.INVALID_INPUT


class Forbidden(AppError):
    status = 403
    code = ErrorCode.FORBIDDEN


class Unprocessable(AppError):
    status = 422
    code = ErrorCode.INVALID_REQUEST


class BadGateway(AppError):
    """A service the gateway relies on (GitHub, a sandbox) failed or answered something
    unexpected; raise sites name which with their code."""

    status = 502
    code = ErrorCode.BAD_GATEWAY


class SandboxFailed(BadGateway):
    """The sandbox's executor answered with an error of its own (a 5xx, or an answer outside its
    protocol): reported with its detail, never retried, since the request may have run."""

    code = ErrorCode.SANDBOX_ERROR


class SandboxTimeout(AppError):
    """The sandbox's executor did not answer in time: reported as a timeout, never retried."""

    status = 504
    code = ErrorCode.SANDBOX_TIMEOUT
