from django.db import migrations, models


def label_past_changes(apps, schema_editor):
    """Name the author of the changes already recorded, while their accounts still exist."""
    SettingsAudit = apps.get_model("core", "SettingsAudit")
    for audit in SettingsAudit.objects.filter(changed_by__isnull=False).select_related("changed_by").iterator():
        SettingsAudit.objects.filter(pk=audit.pk).update(changed_by_label=audit.changed_by.username)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0010_settings_list_validators"),
    ]

    operations = [
        migrations.AddField(
            model_name="settingsaudit",
            name="changed_by_label",
            field=models.CharField(blank=True, max_length=150, verbose_name="par (compte)"),
        ),
        migrations.RunPython(label_past_changes, migrations.RunPython.noop),
    ]
