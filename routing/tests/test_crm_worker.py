"""CRM forwarding through a real Celery worker subprocess (§11, §16): the intake commits,
the outbox row is dispatched after commit, the worker sends the lead to the CRM."""

import time

import pytest

from leads.models import CrmStatus, Lead
from routing.fake_crm import FakeCrm
from tests.factories import LeadFormFactory

pytestmark = [pytest.mark.integration]

ORIGIN = "https://landing.exemple.fr"


@pytest.mark.django_db(transaction=True)
def test_a_submitted_form_lead_reaches_its_crm_through_the_worker(celery_worker, api_client, product):
    crm = FakeCrm(name="ZR7", key="worker-key").start()
    try:
        celery_worker.stop()
        celery_worker.extra_env = {"CRM_ZR7_URL": crm.url, "CRM_TIMEOUT": "5"}
        celery_worker.start()
        form = LeadFormFactory(
            code="pv-worker", entity="ZR7", product=product, allowed_origins=[ORIGIN], crm_api_key="worker-key"
        )
        response = api_client.post(
            f"/api/v1/forms/{form.code}/submit/",
            {"phone": "0612345678", "departement": "13", "visitor_id": "visitor-worker"},
            format="json",
            HTTP_ORIGIN=ORIGIN,
        )
        assert response.status_code == 201, response.content
        lead_id = response.json()["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lead = Lead.objects.get(pk=lead_id)
            if lead.crm_status == CrmStatus.SENT:
                break
            time.sleep(0.1)
        assert lead.crm_status == CrmStatus.SENT, celery_worker.log()
        assert list(crm.records) == [lead_id]
        assert crm.calls[0]["headers"]["idempotency-key"] == lead_id
    finally:
        crm.stop()
