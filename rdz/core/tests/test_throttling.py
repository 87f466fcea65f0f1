"""Fixed-window throttles count every request exactly once, also when requests interleave."""

import threading

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIRequestFactory

from rdz.core.throttling import FixedWindowThrottle


class _Per10(FixedWindowThrottle):
    scope = "test"
    THROTTLE_RATES = {"test": "10/hour"}

    def throttle_ident(self, request):
        return request.META.get("HTTP_X_CLIENT")


def test_parallel_requests_of_one_client_are_all_counted():
    if not isinstance(caches["default"], RedisCache):
        pytest.skip("exact under concurrency with Redis (production); the file cache is best effort")
    request = APIRequestFactory().post("/", HTTP_X_CLIENT="client-a")
    allowed = []
    barrier = threading.Barrier(20)

    def call():
        barrier.wait()
        allowed.append(_Per10().allow_request(request, None))

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A read-modify-write of a timestamp list would let more than 10 through.
    assert allowed.count(True) == 10
    throttle = _Per10()
    assert throttle.allow_request(request, None) is False and 0 < throttle.wait() <= 3600
    other = APIRequestFactory().post("/", HTTP_X_CLIENT="client-b")
    assert _Per10().allow_request(other, None) is True


def test_a_request_without_an_ident_is_not_throttled():
    request = APIRequestFactory().post("/")
    assert all(_Per10().allow_request(request, None) for _ in range(30))
