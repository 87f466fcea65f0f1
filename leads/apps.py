from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


def _install_db_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from leads.db_triggers import crm_key_trigger_install

    crm_key_trigger_install(connections[using])


def intake_caches_clear(*args, **kwargs) -> None:
    from leads.selectors import product_cache_clear
    from leads.services_forms import leadform_public_cache_clear

    leadform_public_cache_clear()
    product_cache_clear()


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from leads.api_forms import cors_allow_form_origin
        from leads.models import LeadForm, Product, ProductField

        # SQLite drops triggers when a migration rebuilds the table: re-create after migrate.
        post_migrate.connect(_install_db_triggers, sender=self, dispatch_uid="leads_db_triggers")
        check_request_enabled.connect(cors_allow_form_origin, dispatch_uid="leads_form_cors")
        # The per-process caches of public forms and products (with their extra fields).
        for model in (LeadForm, Product, ProductField):
            post_save.connect(intake_caches_clear, sender=model, dispatch_uid=f"leads_caches_{model.__name__}")
            post_delete.connect(intake_caches_clear, sender=model, dispatch_uid=f"leads_caches_del_{model.__name__}")
