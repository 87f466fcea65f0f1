"""The beat schedules in the admin (superusers): what is saved there is what beat can run,
and a wrong value is refused in French on its field."""

import pytest
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from rdz.celery import app

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:django_celery_beat_periodictask_add")


def _task_form(**values) -> dict:
    form = {
        "name": "Essai",
        "regtask": "rdz.core.tasks.outbox_sweep",
        "task": "",
        "enabled": "on",
        "description": "",
        "interval": str(IntervalSchedule.objects.order_by("pk").first().pk),
        "crontab": "",
        "solar": "",
        "clocked": "",
        "start_time_0": "",
        "start_time_1": "",
        "args": "[]",
        "kwargs": "{}",
        "expires_0": "",
        "expires_1": "",
        "expire_seconds": "",
        "queue": "",
        "exchange": "",
        "routing_key": "",
        "priority": "",
        "headers": "{}",
    }
    form.update(values)
    return form


def _field_errors(response) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {name: list(errors) for name, errors in form.errors.items()}


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"regtask": "", "task": "x" * 201}, "task", "Assurez-vous que cette valeur comporte au plus 200 caractères"),
        (
            {"regtask": "", "task": ""},
            "task",
            "Indiquez la tâche à lancer : choisissez-la dans la liste ou saisissez son nom.",
        ),
        ({"headers": "[]"}, "headers", "Un objet JSON est attendu, par exemple {}."),
        ({"headers": "non"}, "headers", "JSON illisible (ligne 1, colonne 1)."),
        ({"args": "{}"}, "args", 'Une liste JSON est attendue, par exemple ["valeur"].'),
        ({"kwargs": "[]"}, "kwargs", 'Un objet JSON est attendu, par exemple {"nom": "valeur"}.'),
        (
            {"interval": ""},
            "__all__",
            "Choisissez une planification : intervalle, crontab, événement solaire ou horaire.",
        ),
        ({"crontab": "1"}, "interval", "Une seule planification par tâche : laissez les autres vides."),
    ],
)
def test_a_periodic_task_beat_could_not_run_is_refused_in_french_on_its_field(
    client, superuser, values, field, message
):
    """A task name longer than the column was a server error; headers typed as a JSON list
    were saved and then stopped beat for every schedule (the daily CSV included); unreadable
    headers were saved and the task then never ran."""
    if values.get("crontab"):
        values["crontab"] = str(CrontabSchedule.objects.order_by("pk").first().pk)
    client.force_login(superuser)
    before = PeriodicTask.objects.count()

    response = client.post(ADD_URL, _task_form(**values))

    assert response.status_code == 200
    errors = _field_errors(response)
    assert any(e.startswith(message) for e in errors.get(field, [])), errors
    assert not [e for messages in errors.values() for e in messages if "must" in e or "Need" in e]
    assert PeriodicTask.objects.count() == before
    DatabaseScheduler(app=app, lazy=True).all_as_schedule()


def test_a_valid_periodic_task_is_still_saved_from_the_admin(client, superuser):
    client.force_login(superuser)

    # Emptied headers were a server error (the column takes no NULL): they mean none.
    response = client.post(ADD_URL, _task_form(args='["a"]', kwargs='{"b": 1}', headers=""))

    assert response.status_code == 302
    task = PeriodicTask.objects.get(name="Essai")
    assert (task.task, task.args, task.kwargs, task.headers) == (
        "rdz.core.tasks.outbox_sweep",
        '["a"]',
        '{"b": 1}',
        "{}",
    )
    assert "Essai" in DatabaseScheduler(app=app, lazy=True).all_as_schedule()


ENGLISH = [
    "At 09:30 AM",
    "Human readable",
    "Scheduler",
    "Translation:",
    "Periodic Tasks Using This Schedule",
    "Task Name",
]


def test_the_beat_schedules_pages_read_in_french(client, superuser):
    client.force_login(superuser)
    daily = PeriodicTask.objects.get(task="commandes.tasks.delivery_send_daily")
    sweep = PeriodicTask.objects.get(task="rdz.core.tasks.outbox_sweep")
    pages = {
        "tasks": reverse("admin:django_celery_beat_periodictask_changelist"),
        "daily": reverse("admin:django_celery_beat_periodictask_change", args=[daily.pk]),
        "sweep": reverse("admin:django_celery_beat_periodictask_change", args=[sweep.pk]),
        "crontabs": reverse("admin:django_celery_beat_crontabschedule_changelist"),
        "crontab": reverse("admin:django_celery_beat_crontabschedule_change", args=[daily.crontab_id]),
        "interval": reverse("admin:django_celery_beat_intervalschedule_change", args=[sweep.interval_id]),
    }
    texts = {}
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, name
        texts[name] = response.content.decode()
        assert [e for e in ENGLISH if e in texts[name]] == [], name
    for name in ("tasks", "daily", "crontabs", "crontab"):
        assert "À 09:30 (Europe/Paris)" in texts[name], name
    assert "Tâches utilisant cette planification" in texts["interval"]


def test_a_crontab_value_out_of_range_is_refused_in_french(client, superuser):
    client.force_login(superuser)
    form = {"minute": "99", "hour": "8", "day_of_month": "*", "month_of_year": "*", "day_of_week": "lundi"}
    form |= {"timezone": "Europe/Paris", "periodictask_set-TOTAL_FORMS": "0", "periodictask_set-INITIAL_FORMS": "0"}

    response = client.post(reverse("admin:django_celery_beat_crontabschedule_add"), form)

    errors = _field_errors(response)
    assert errors["minute"] == [
        "Minutes invalides : de 0 à 59, « * », une liste (0,30), une plage (8-18) ou un pas (*/10)."
    ]
    assert errors["day_of_week"][0].startswith("Jours de la semaine invalides : de 0 à 6 (0 = dimanche)")


def test_running_an_unknown_task_from_the_admin_says_so_in_french(client, superuser):
    task = PeriodicTask.objects.create(
        name="Inconnue", task="rdz.nulle_part", interval=IntervalSchedule.objects.order_by("pk").first()
    )
    client.force_login(superuser)

    response = client.post(
        reverse("admin:django_celery_beat_periodictask_changelist"),
        {"action": "run_tasks", "_selected_action": [task.pk]},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        "Tâche « rdz.nulle_part » inconnue des workers : rien n'a été lancé."
    ]
