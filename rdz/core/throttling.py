"""Fixed-window request throttles for DRF views.

One atomic INCR (+ EXPIRE, pipelined) per request on Redis, instead of DRF's
`SimpleRateThrottle`, whose read-modify-write of a timestamp list costs two round trips,
grows with the rate (a list as long as the allowed requests per window, pickled on every
call) and loses counts when two requests of one client interleave. Other cache backends
(the embedded default's file cache) use add/incr: best effort under concurrency. Rates come from DRF's DEFAULT_THROTTLE_RATES by `scope`; subclasses say
whom a request counts for (`throttle_ident`). A cache that is down lets requests through.
"""

import ipaddress
import logging
import time

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

# What a cache that is down or silent raises (Redis, bounded by settings.REDIS_CACHE_OPTIONS'
# socket timeouts; the file cache of the embedded default). The counters built on the cache
# (these throttles, the login guard) let the request through uncounted when they see one.
CACHE_ERRORS = (RedisError, OSError)

_redis_clients: dict[int, object] = {}

# An IPv6 connection comes with a whole /64 network (2^64 addresses to choose from, on any
# home line or rented server), as an IPv4 connection comes with one address: counted per
# address, a robot or a password guesser would take a new one at each request.
IPV6_COUNTED_PREFIX = 64


def client_address_key(request) -> str | None:
    """Whom the per-address counters (landing form throttles, login guard) count a request for:
    the client's address (DRF's `get_ident`: NUM_PROXIES decides whether X-Forwarded-For is
    trusted), an IPv6 address standing for its /64 network; anything else as DRF gives it."""
    ident = BaseThrottle().get_ident(request)
    try:
        address = ipaddress.ip_address((ident or "").strip())
    except ValueError:
        return ident
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((int(address), IPV6_COUNTED_PREFIX), strict=False)
        return str(network)
    return str(address)


def _window_count(key: str, seconds: int) -> int:
    """Increment and return the counter `key`, created with a lifetime of `seconds`."""
    backend = caches["default"]  # this thread's backend object (`cache` is only a proxy)
    if isinstance(backend, RedisCache):
        full_key = backend.make_and_validate_key(key)
        pool = backend._cache._get_connection_pool(write=True)
        client = _redis_clients.get(id(pool))
        if client is None:
            # Django builds a new Redis() object per call; one per connection pool is enough.
            client = _redis_clients[id(pool)] = backend._cache._client(connection_pool=pool)
        pipe = client.pipeline(transaction=False)
        pipe.incr(full_key)
        pipe.expire(full_key, seconds + 1)
        count, _ = pipe.execute()
        return int(count)
    if backend.add(key, 1, seconds + 1):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr
        backend.set(key, 1, seconds + 1)
        return 1


class FixedWindowThrottle(BaseThrottle):
    scope = ""
    THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES

    def __init__(self) -> None:
        rate = self.THROTTLE_RATES.get(self.scope)
        self.num_requests, self.duration = self.parse_rate(rate)
        self._wait = 0.0

    @staticmethod
    def parse_rate(rate: str | None) -> tuple[int | None, int]:
        if not rate:
            return None, 1
        num, period = rate.split("/")
        return int(num), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]

    def allow_request(self, request, view) -> bool:
        if self.num_requests is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        ident = self.throttle_ident(request)
        if ident is None:
            return True
        key = f"throttle:{self.scope}:{ident}:{window}"
        try:
            count = _window_count(key, self.duration)
        except CACHE_ERRORS:
            # The counter is an accessory of the request: a cache that is down or silent
            # (bounded by its socket timeouts, settings.REDIS_CACHE_OPTIONS) must not refuse
            # every lead (§16). The request goes through uncounted.
            logger.warning("throttle %s: cache unavailable, request not counted", self.scope, exc_info=True)
            return True
        if count <= self.num_requests:
            return True
        self._wait = self.duration - (now % self.duration)
        return False

    def throttle_ident(self, request) -> str | None:
        """Whom the request counts for (None: not throttled). Default: the client address,
        an IPv6 one as its /64 network (`client_address_key`)."""
        return client_address_key(request)

    def wait(self) -> float:
        return self._wait
