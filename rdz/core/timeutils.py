"""Paris calendar helpers: the business week starts Monday 00:00 Europe/Paris (§5)."""

import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

PARIS = ZoneInfo("Europe/Paris")


def paris_now(now: datetime.datetime | None = None) -> datetime.datetime:
    return timezone.localtime(now or timezone.now(), PARIS)


def paris_today(now: datetime.datetime | None = None) -> datetime.date:
    return paris_now(now).date()


def week_start(day: datetime.date) -> datetime.date:
    """Monday of the ISO week containing `day`."""
    return day - datetime.timedelta(days=day.weekday())


def paris_day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[00:00, next 00:00) of a Paris day as aware datetimes (23 or 25 hours on DST days)."""
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=PARIS)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=PARIS)
    return start, end
