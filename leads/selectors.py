"""Non-trivial reads on leads."""

from leads.models import OppositionEntry


def phone_is_opposed(*, phone: str) -> bool:
    """True when the (E.164) number is on the opposition list: never route, deliver or forward it (§16)."""
    return OppositionEntry.objects.filter(phone=phone).exists()
