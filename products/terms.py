"""A fare policy's terms as a plain value (rides.fare prices with it; no database in sight)."""

from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

LOCAL_TIME = ZoneInfo("Asia/Jakarta")


@dataclass(frozen=True)
class TimeMultiplier:
    start: time
    end: time  # exclusive; an end at or before the start wraps past midnight
    multiplier: Decimal

    def covers(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class FareTerms:
    product: str
    version: int  # 0: the built-in terms from settings (a request made before fare policies existed)
    base_fare: int
    per_km: int
    minimum_fare: int
    waiting_per_minute: int = 0
    time_multipliers: tuple[TimeMultiplier, ...] = field(default=())

    def time_multiplier_at(self, at: datetime | None) -> Decimal:
        """The first window covering `at` (Asia/Jakarta local time), else 1."""
        if at is None or not self.time_multipliers:
            return Decimal(1)
        local = at.astimezone(LOCAL_TIME).time()
        for window in self.time_multipliers:
            if window.covers(local):
                return window.multiplier
        return Decimal(1)


def time_multipliers_parse(raw) -> tuple[TimeMultiplier, ...]:
    """[{"start": "HH:MM", "end": "HH:MM", "multiplier": "1.2"}] -> TimeMultipliers; ValueError names what is wrong."""
    if raw in (None, ""):
        return ()
    if not isinstance(raw, list):
        raise ValueError("time multipliers must be a list of {start, end, multiplier}")
    windows = []
    for item in raw:
        if not isinstance(item, dict) or set(item) != {"start", "end", "multiplier"}:
            raise ValueError('each time multiplier is {"start": "HH:MM", "end": "HH:MM", "multiplier": "1.2"}')
        try:
            start, end = time.fromisoformat(str(item["start"])), time.fromisoformat(str(item["end"]))
            multiplier = Decimal(str(item["multiplier"]))
        except (ValueError, ArithmeticError) as exc:
            raise ValueError(f"bad time multiplier {item!r}: {exc}") from None
        if start == end:
            raise ValueError(f"time multiplier {item!r}: start and end are the same")
        if not Decimal("0.5") <= multiplier <= Decimal(3):
            raise ValueError(f"time multiplier {item!r}: the multiplier must be from 0.5 to 3")
        windows.append(TimeMultiplier(start=start, end=end, multiplier=multiplier))
    return tuple(windows)
