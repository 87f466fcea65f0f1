from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


def _install_db_triggers(sender, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from leads.db_triggers import crm_key_trigger_install

    crm_key_trigger_install(connections[using])


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from leads.api_forms import cors_allow_form_origin
        from leads.models import LeadForm, Product, ProductField
        from leads.selectors import product_cache_clear
        from leads.services_forms import leadform_public_cache_clear

        # SQLite drops triggers when a migration rebuilds the table: re-create after migrate.
        post_migrate.connect(_install_db_triggers, sender=self, dispatch_uid="leads_db_triggers")
        check_request_enabled.connect(cors_allow_form_origin, dispatch_uid="leads_form_cors")
        for model in (LeadForm, Product, ProductField):
            post_save.connect(
                leadform_public_cache_clear, sender=model, dispatch_uid=f"leads_public_forms_{model.__name__}"
            )
            post_delete.connect(
                leadform_public_cache_clear, sender=model, dispatch_uid=f"leads_public_forms_del_{model.__name__}"
            )
        for model in (Product, ProductField):
            post_save.connect(product_cache_clear, sender=model, dispatch_uid=f"leads_products_{model.__name__}")
            post_delete.connect(product_cache_clear, sender=model, dispatch_uid=f"leads_products_del_{model.__name__}")
