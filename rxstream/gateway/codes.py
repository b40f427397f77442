"""The close codes and error codes of the WebSocket protocol (documented in ``docs/WEBSOCKET_USAGE.md``)."""

from __future__ import annotations

import enum

__all__ = ["CloseCode", "ErrorCode"]


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server uses."""

    NORMAL = 1000
    GOING_AWAY = 1001
    """The server is shutting down; reconnect and resume."""
    INVALID_PAYLOAD = 1007
    """A text frame that is not valid UTF-8 (closed by the WebSocket layer)."""
    MESSAGE_TOO_BIG = 1009
    """A frame exceeded the hard inbound limit (closed by the WebSocket layer)."""
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    """``max_connections`` reached; retry later with backoff."""
    UNAUTHORIZED = 4001
    """Missing, bad or expired token."""
    SLOW_CONSUMER = 4008
    """The client fell too far behind on a lossless topic; reconnect and resume with ``since``."""
    RATE_LIMITED = 4029
    """The client sent more messages than its inbound rate limit allows."""


class ErrorCode(enum.StrEnum):
    """The ``code`` of an ``error`` message."""

    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_FIELD = "invalid_field"
    UNKNOWN_TOPIC = "unknown_topic"
    FORBIDDEN_TOPIC = "forbidden_topic"
    FRAME_TOO_LARGE = "frame_too_large"
    BATCH_TOO_LARGE = "batch_too_large"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    AUTH_REQUIRED = "auth_required"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    SLOW_CONSUMER = "slow_consumer"
    GOING_AWAY = "going_away"
