import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from leads.models import Lead, LeadStatus
from rdz.urls import urlpatterns as project_urls

BASELINE_PRODUCT_ID = 1  # PV, the first product the seed creates


@csrf_exempt
def baseline_insert(request: HttpRequest) -> HttpResponse:
    """The floor: parse the same JSON body and INSERT one lead row, nothing else."""
    body = json.loads(request.body)
    lead = Lead(
        entity="ZR7",
        product_id=BASELINE_PRODUCT_ID,
        phone=str(body["phone"]),
        departement=str(body["departement"]),
        first_name=str(body.get("first_name", "")),
        last_name=str(body.get("last_name", "")),
        email=str(body.get("email", "")),
        source="bench-baseline",
        status=LeadStatus.NO_ORDER,
    )
    lead.save(force_insert=True)
    return JsonResponse({"id": str(lead.id), "status": lead.status, "entity": lead.entity}, status=201)


def ready(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("bench/baseline/", baseline_insert), path("bench/ready/", ready), *project_urls]
