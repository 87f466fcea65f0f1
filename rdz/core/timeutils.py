"""Paris calendar helpers: the business week starts Monday 00:00 Europe/Paris (§5)."""

import datetime
from zoneinfo import ZoneInfo

from django.core.validators import MaxValueValidator, MinValueValidator
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


# Dates typed in filters and query parameters: far enough to never hinder a real query,
# near enough that a day added or removed (bounds of a period) never overflows Python's
# date type (years 1–9999).
DATE_MIN = datetime.date(2000, 1, 1)
DATE_MAX = datetime.date(2999, 12, 31)
DATE_OUT_OF_RANGE = "Date hors limites : entre le 01/01/2000 et le 31/12/2999."
# DRF's own message names the format in English (YYYY-MM-DD), even in its French translation.
DATE_INVALID = "Date invalide : format AAAA-MM-JJ attendu."


def date_in_range(day: datetime.date | None) -> bool:
    return day is None or DATE_MIN <= day <= DATE_MAX


def date_range_validators() -> list:
    """Validators for a form or serializer date field, with the French message above."""
    return [MinValueValidator(DATE_MIN, DATE_OUT_OF_RANGE), MaxValueValidator(DATE_MAX, DATE_OUT_OF_RANGE)]
