"""`landing_demo`: the demo landing page's command (README, Acquisition)."""

import socket

import pytest
from django.core.management import CommandError, call_command

from leads.models import LeadForm


@pytest.mark.django_db
def test_a_taken_port_is_refused_in_french_with_the_option_to_change_it(product):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"Le port {port} est déjà utilisé .* --port"):
            call_command("landing_demo", port=port, zr7_crm_port=0, mdl_crm_port=0)
        with pytest.raises(CommandError, match=f"Le port {port} est déjà utilisé .* --zr7-crm-port"):
            call_command("landing_demo", port=0, zr7_crm_port=port, mdl_crm_port=0)
    # The demo form was created for the page all the same, once.
    assert LeadForm.objects.filter(code="demo-pv").count() == 1


@pytest.mark.django_db
def test_an_unknown_form_code_is_refused():
    with pytest.raises(CommandError, match="Formulaire inconnu : « nulle-part »"):
        call_command("landing_demo", form="nulle-part", port=0, zr7_crm_port=0, mdl_crm_port=0)


@pytest.mark.django_db
@pytest.mark.parametrize("option", ["port", "zr7_crm_port", "mdl_crm_port"])
@pytest.mark.parametrize("value", [-1, 70000])
def test_a_port_out_of_range_is_refused_in_french_before_the_demo_form_is_created(option, value, product):
    ports = {"port": 0, "zr7_crm_port": 0, "mdl_crm_port": 0, option: value}
    with pytest.raises(CommandError, match="entre 0 et 65535"):
        call_command("landing_demo", **ports)
    assert not LeadForm.objects.exists()
