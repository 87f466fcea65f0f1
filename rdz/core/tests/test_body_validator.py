"""BodyValidator answers exactly what the serializer it stands for would answer."""

import threading

import pytest
from django.utils import translation
from rest_framework import serializers

from leads.api import ProviderLeadSerializer, provider_lead_validate
from leads.api_forms import FormSubmitSerializer, form_submit_validate
from rdz.core.api import BodyValidator

pytestmark = pytest.mark.django_db

VALID = {"phone": "06 12 34 56 78", "product": "PV", "departement": "2a", "first_name": " Zoé ", "consent": "true"}
BODIES = [
    VALID,
    {},
    {"phone": None, "product": None, "departement": None},
    {**VALID, "first_name": None, "last_name": None, "email": None, "source": None, "consent": None, "extra": None},
    {**VALID, "phone": ["0612345678"], "departement": "20", "email": "pas-un-email"},
    {**VALID, "phone": "", "product": "", "source": 42, "external_id": "x" * 101},
    {**VALID, "consent": "peut-être", "extra": ["a"], "source": ["a"], "first_name": ["Jean"]},
    {**VALID, "extra": {"surface": 40, 3: "x"}, "external_id": "  ext-1  ", "source": "  fb  "},
    {**VALID, "product": "XYZ", "consent_page_url": "pas une url", "consent_text_version": "v" * 51},
    {**VALID, "consent_page_url": "https://exemple.fr/pv", "visitor_id": "visitor-0001", "variant": "B"},
    {**VALID, "visitor_id": "pas valide !", "variant": "v" * 51, "rdz_hp": "http://spam"},
    {**VALID, "phone": "06\x0012", "first_name": "\x00", "source": "a\x00b"},
    {**VALID, "unknown": "ignored", "departement": 13},
]


def _serializer_answer(serializer_class, data):
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    return {}, serializer.errors


@pytest.mark.parametrize(
    ("serializer_class", "validate"),
    [(ProviderLeadSerializer, provider_lead_validate), (FormSubmitSerializer, form_submit_validate)],
)
@pytest.mark.parametrize("data", BODIES)
def test_the_answer_is_the_serializers_answer(product, serializer_class, validate, data):
    with translation.override("fr"):
        expected_values, expected_errors = _serializer_answer(serializer_class, data)
        values, errors = validate(data)
    assert errors == expected_errors
    if not errors:
        assert values == expected_values


@pytest.mark.parametrize("data", [[VALID], "texte", 42, None, True])
def test_a_body_that_is_not_an_object_gets_one_french_message(data):
    assert provider_lead_validate(data) == ({}, {"non_field_errors": ["Un objet JSON est attendu."]})
    assert form_submit_validate(data) == ({}, {"non_field_errors": ["Un objet JSON est attendu."]})


def test_concurrent_validations_do_not_mix_their_bodies(product):
    provider_lead_validate(VALID)  # the product is cached: the threads do not read it
    barrier = threading.Barrier(8)
    results: dict[int, tuple] = {}

    def run(n: int) -> None:
        barrier.wait()
        for _ in range(50):
            body = {**VALID, "phone": f"06123456{n:02d}"} if n % 2 else {**VALID, "departement": "20"}
            results[n] = provider_lead_validate(body)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, (values, errors) in results.items():
        if n % 2:
            assert not errors and values["phone"] == f"+336123456{n:02d}"
        else:
            assert set(errors) == {"departement"}


def test_serializer_level_validation_is_refused():
    class WithValidate(serializers.Serializer):
        a = serializers.CharField()

        def validate(self, attrs):
            return attrs

    with pytest.raises(TypeError):
        BodyValidator(WithValidate)
