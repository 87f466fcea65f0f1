from django.dispatch import Signal

# Sent after commit when the settings record changed; `fields` lists the changed names.
settings_changed = Signal()
