"""Routes of landing forms (§11, §15), included by rdz/urls.py."""

from django.urls import path

from leads.api_forms import FormDetailView, FormStatsView, FormSubmitView, TrackView
from leads.views_tracking import tracking_script

# Under /api/v1/ (the public ones must match settings.CORS_URLS_REGEX).
form_api_urls = [
    path("forms/<slug:code>/submit/", FormSubmitView.as_view(), name="api-form-submit"),
    path("forms/<slug:code>/stats/", FormStatsView.as_view(), name="api-form-stats"),
    path("forms/<slug:code>/", FormDetailView.as_view(), name="api-form-detail"),
    path("track/", TrackView.as_view(), name="api-track"),
]

# At the site root.
tracking_urls = [
    path("t/<slug:code>.js", tracking_script, name="tracking-script"),
]
