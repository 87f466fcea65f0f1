"""Per-IP throttles of the public landing endpoints (§11): fixed windows counted in the
cache (rdz.core.throttling), rates `form_ip` and `track_ip` of DEFAULT_THROTTLE_RATES."""

from rdz.core.throttling import FixedWindowThrottle


class FixedWindowIpThrottle(FixedWindowThrottle):
    """Counts per client address (DRF's `get_ident`)."""


class FormIpThrottle(FixedWindowIpThrottle):
    scope = "form_ip"


class TrackIpThrottle(FixedWindowIpThrottle):
    scope = "track_ip"
