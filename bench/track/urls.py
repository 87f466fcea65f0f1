from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from rdz.urls import urlpatterns as project_urls


@csrf_exempt
def baseline_insert(request: HttpRequest) -> HttpResponse:
    """The floor: one INSERT of the request body, through the same middleware stack."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_baseline (payload, created_at) VALUES (%s, %s)",
            [request.body[:500].decode(errors="replace"), timezone.now()],
        )
    return HttpResponse(status=204)


urlpatterns = [path("bench/baseline/", baseline_insert), *project_urls]
