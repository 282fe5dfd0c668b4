"""Time as the engine records it: UTC, microseconds, RFC 3339 with a `Z`; injectable."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """2026-11-24T14:27:35.816685Z"""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class Clock:
    """Wall time for records, monotonic-ish epoch seconds for leases. Tests substitute it."""

    def now(self) -> datetime:
        return utc_now()

    def stamp(self) -> str:
        return format_time(self.now())

    def epoch(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
