"""Errors of the Salesforce simulator, and the error bodies Salesforce answers with.

::

    SimulatorError          root of everything this package raises
    ├── ApiError            a REST API error: HTTP status + ``[{"message","errorCode","fields"}]``
    ├── OAuthError          an OAuth token endpoint error: ``{"error","error_description"}``
    └── DriverError         a ``/sim`` call refused, as seen by ``SalesforceDriver``

:class:`ApiError` carries exactly what Salesforce puts in an error array element. The same
error, when it happens to one record of an sObject Collections request, is reported as
``{"statusCode","message","fields"}`` instead (see :meth:`ApiError.record_error`). The helper
constructors below spell messages the way the real API does where its documentation shows
them; the README lists the ones that are best guesses.
"""

from __future__ import annotations

from typing import Any


class SimulatorError(Exception):
    """Root of every error raised by ``simulators.salesforce``."""


class ApiError(SimulatorError):
    """An error answer of the REST API (HTTP ``status`` with a JSON error array)."""

    def __init__(self, status: int, error_code: str, message: str,
                 fields: list[str] | None = None, *, body: Any = None) -> None:
        super().__init__(f"{status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = fields
        self._body = body

    def body(self) -> Any:
        """The JSON body of the HTTP answer (an error array unless a body was given)."""
        if self._body is not None:
            return self._body
        item: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            item["fields"] = self.fields
        return [item]

    def record_error(self) -> dict[str, Any]:
        """The error as one element of a per-record ``errors`` list (collections)."""
        return {"statusCode": self.error_code, "message": self.message,
                "fields": list(self.fields or [])}


class OAuthError(SimulatorError):
    """An error of ``/services/oauth2/token`` (RFC 6749 shape, HTTP 400 unless told)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class DriverError(SimulatorError):
    """The simulator refused a driver call."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(f"{status}: {description}")
        self.status = status
        self.description = description


# -- the errors the REST API answers with ---------------------------------------------------

def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return ApiError(404, "NOT_FOUND", message)


def entity_deleted() -> ApiError:
    return ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def request_limit_exceeded() -> ApiError:
    return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def method_not_allowed(method: str, allowed: list[str]) -> ApiError:
    return ApiError(405, "METHOD_NOT_ALLOWED",
                    f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}")


def invalid_field(message: str, fields: list[str] | None = None) -> ApiError:
    return ApiError(400, "INVALID_FIELD", message, fields)


def no_such_column(field: str, sobject: str) -> ApiError:
    return invalid_field(f"No such column '{field}' on sobject of type {sobject}", [field])


def required_missing(fields: list[str]) -> ApiError:
    return ApiError(400, "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(fields)}]", fields)


def not_writable(fields: list[str]) -> ApiError:
    return ApiError(400, "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(fields)}. Please check the "
                    "security settings of this field and verify that it is read/write for "
                    "your profile or permission set.", fields)


def duplicate_value(field: str, other_id: str) -> ApiError:
    return ApiError(400, "DUPLICATE_VALUE",
                    f"duplicate value found: {field} duplicates value on record with id: "
                    f"{other_id}", [])


def malformed_id(label: str, value: object, field: str) -> ApiError:
    return ApiError(400, "MALFORMED_ID", f"{label}: id value of incorrect type: {value}",
                    [field])


def invalid_cross_reference(field: str) -> ApiError:
    return ApiError(400, "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [field])


def json_parser_error(message: str) -> ApiError:
    return ApiError(400, "JSON_PARSER_ERROR", message)


def malformed_query(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


def unable_to_lock_row(record_id: str | None) -> ApiError:
    suffix = f" or 1 records: {record_id}" if record_id else ""
    return ApiError(400, "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record{suffix}", [])


def server_unavailable() -> ApiError:
    return ApiError(503, "SERVER_UNAVAILABLE",
                    "Server temporarily unavailable. Please try again later.")
