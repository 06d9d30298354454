"""Keeping configured secrets out of everything a vendor answer or a library may print.

A vendor (or a proxy in front of it) may echo a key back: in an error body, in a header,
in an exception text of the HTTP stack (h11 quotes a header value it refuses). The one
`Redactor` of a client replaces each of its secrets, wherever it appears, by a mask:
in response bodies before an adapter reads them (so `raw`, snapshots and the store never
hold one), in our messages, and, through `LogRedaction`, in the log records of httpx and
httpcore (their DEBUG lines show response headers and failed requests).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterable

    from ._settings import Secret

__all__ = ["MASK", "LogRedaction", "Redactor"]

MASK: Final = "********"
_LOGGERS: Final = (
    "coursegen",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "hpack",
)
"""Loggers that may see a request or a response; a logger's filter only sees its own
records (not its children's), hence each module logger of httpcore by name."""


class Redactor:
    """Replaces the given secrets (and their escaped `repr` spelling) by `MASK`."""

    def __init__(self, secrets: Iterable[Secret | None]) -> None:
        values = {secret.reveal() for secret in secrets if secret}
        # `repr` spellings too: log lines and exception texts quote bytes and strings.
        spelled = values | {repr(value)[1:-1] for value in values}
        # Longest first, so that a secret containing another is masked whole.
        self.texts: tuple[str, ...] = tuple(sorted(spelled, key=len, reverse=True))
        self._bytes = tuple(text.encode("utf-8", "surrogatepass") for text in self.texts)

    def __bool__(self) -> bool:
        return bool(self.texts)

    def text(self, value: str) -> str:
        for secret in self.texts:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self.text(value)

    def bytes(self, value: bytes) -> bytes:
        for secret in self._bytes:
            if secret in value:
                value = value.replace(secret, MASK.encode())
        return value

    def contains(self, value: str) -> bool:
        return any(secret in value for secret in self.texts)

    def contains_bytes(self, value: builtins.bytes) -> bool:
        return any(secret in value for secret in self._bytes)


class LogRedaction(logging.Filter):
    """Masks the secrets of every open client in the records of the HTTP stack's loggers.

    Installed once on those loggers; clients `add` their redactor when they open and
    `discard` it when they close, so a record is checked against the secrets in use.
    """

    _installed: LogRedaction | None = None
    _install_lock = threading.Lock()

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._active: Counter[str] = Counter()

    @classmethod
    def installed(cls) -> LogRedaction:
        """The one filter, installed on the HTTP stack's loggers on first use."""
        with cls._install_lock:
            if cls._installed is None:
                cls._installed = cls()
                for name in _LOGGERS:
                    logging.getLogger(name).addFilter(cls._installed)
            return cls._installed

    def add(self, redactor: Redactor) -> None:
        with self._lock:
            self._active.update(redactor.texts)

    def discard(self, redactor: Redactor) -> None:
        with self._lock:
            self._active.subtract(redactor.texts)
            self._active = +self._active  # drop the secrets no open client uses

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = sorted(self._active, key=len, reverse=True)
        if not secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in secrets):
            for secret in secrets:
                message = message.replace(secret, MASK)
            record.msg, record.args = message, ()
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in secrets:
                record.exc_text = record.exc_text.replace(secret, MASK)
        return True
