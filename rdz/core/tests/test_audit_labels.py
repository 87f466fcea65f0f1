"""The audit log reads in French: every action the code records has a French name."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from rdz.core.models import AUDIT_ACTION_LABELS
from rdz.core.services import audit_log

ROOT = Path(__file__).resolve().parents[3]
# `action="…"` in an audit_log/AuditLog call, `"…" if … else "…"` after it, and the admin mixin's codes.
CODE = re.compile(r'(?:action=|_ACTION = |self\._audit\(request, obj, )"([a-z_.]+)"(?: if [^"]+ else "([a-z_.]+)")?')


def _codes_written_by_the_code() -> set[str]:
    codes = set()
    for path in ROOT.glob("*/**/*.py"):
        parts = path.relative_to(ROOT).parts
        if "tests" in parts or "migrations" in parts or parts[0] in ("bench", ".venv", "venv"):
            continue
        for match in CODE.finditer(path.read_text(encoding="utf-8")):
            codes.update(code for code in match.groups() if code)
    return codes - {"store_true", "store_false"}


def test_every_audit_action_the_code_records_has_a_french_name():
    codes = _codes_written_by_the_code()
    assert {"provider_rotate_key", "commande_deactivate", "admin_change", "rgpd.erase"} <= codes
    assert codes - AUDIT_ACTION_LABELS.keys() == set()


@pytest.mark.django_db
def test_the_audit_log_admin_lists_and_filters_actions_in_french(client, superuser):
    audit_log(action="provider_rotate_key", entity="ZR7", message="clé régénérée")
    client.force_login(superuser)
    page = client.get(reverse("admin:core_auditlog_changelist")).content.decode()
    assert "Clé API du provider régénérée" in page
    assert ">provider_rotate_key<" not in page
