"""S3 failures as the dock's vault alerts: who must act (network, credentials, rights, space, clock)."""

from __future__ import annotations

import botocore.exceptions

from station.outbox.target import VaultAlert, VaultError

AUTH_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                        "AuthorizationHeaderMalformed", "InvalidSecurity"})
PERMISSION_CODES = frozenset({"AccessDenied", "AllAccessDisabled", "NoSuchBucket", "InvalidBucketState",
                              "InvalidRequest", "MethodNotAllowed"})
FULL_CODES = frozenset({"QuotaExceeded", "EntityTooLarge", "InsufficientCapacity"})
SKEW_CODES = frozenset({"RequestTimeTooSkewed"})
RETRY_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500", "502",
                         "504", "NoSuchUpload"})


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "")
    return ""


def classify(exc: BaseException, where: str) -> VaultError | None:
    """A botocore failure as a VaultError with the alert that says who must act; None if it is not one."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        msg = f"{where}: {code or status}: {exc.response.get('Error', {}).get('Message') or exc}"
        if code in SKEW_CODES:
            return VaultError(f"{msg}; the dock's clock differs too much from the vault's (check NTP)",
                              permanent=True, alert=VaultAlert.CLOCK_SKEW)
        if code in AUTH_CODES:
            return VaultError(msg, permanent=True, alert=VaultAlert.AUTH)
        if code in FULL_CODES:
            return VaultError(f"{msg}; the bucket or its owner's quota is full", permanent=True,
                              alert=VaultAlert.FULL)
        if code in PERMISSION_CODES or status == 403:
            return VaultError(msg, permanent=True, alert=VaultAlert.PERMISSION)
        if code in RETRY_CODES or (isinstance(status, int) and status >= 500):
            return VaultError(msg, alert=VaultAlert.UNREACHABLE)
        return VaultError(msg)
    if isinstance(exc, botocore.exceptions.SSLError):
        # A certificate the pinned CA did not sign: possible interception, never trusted.
        return VaultError(f"{where}: TLS verification failed: {exc}", permanent=True, alert=VaultAlert.HOST_KEY)
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError,
                        botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError,
                        botocore.exceptions.ProxyConnectionError, botocore.exceptions.HTTPClientError,
                        botocore.exceptions.ResponseStreamingError, OSError)):
        return VaultError(f"{where} unreachable: {type(exc).__name__}: {exc}", alert=VaultAlert.UNREACHABLE)
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return VaultError(f"{where}: {exc}", permanent=True, alert=VaultAlert.AUTH)
    return None
