"""Per-IP throttles of the public landing endpoints (§11): fixed windows counted in the
cache (rdz.core.throttling), rates `form_ip` and `track_ip` of DEFAULT_THROTTLE_RATES."""

from rdz.core.throttling import FixedWindowThrottle


class FixedWindowIpThrottle(FixedWindowThrottle):
    """Counts per client address, an IPv6 one as its /64 network (`client_address_key`)."""


class FormIpThrottle(FixedWindowIpThrottle):
    scope = "form_ip"


class TrackIpThrottle(FixedWindowIpThrottle):
    scope = "track_ip"
