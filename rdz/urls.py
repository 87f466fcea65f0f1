from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from commandes.views_public import rejection_public
from leads.api import ProviderLeadCreateView, ProviderLeadDetailView
from leads.urls_forms import form_api_urls, tracking_urls
from media_library.views import media_file
from rdz.core import views as core_views
from rdz.core.backoffice_urls import api_urlpatterns as backoffice_api_urls
from rdz.core.login_guard import AdminLoginForm

admin.site.site_header = "RDZ — administration"
admin.site.site_title = "RDZ"
admin.site.index_title = "Administration des données"
admin.site.login_form = AdminLoginForm

api_v1 = [
    path("leads/", ProviderLeadCreateView.as_view(), name="api-lead-create"),
    path("leads/<uuid:lead_id>/", ProviderLeadDetailView.as_view(), name="api-lead-detail"),
    *form_api_urls,
    path("media/", include("media_library.api_urls")),
    *backoffice_api_urls,
]

urlpatterns = [
    path("favicon.ico", core_views.favicon),
    path("admin/", admin.site.urls),
    *tracking_urls,
    path("medias/", include("media_library.urls")),
    path("rejet/<str:token>/", rejection_public, name="rejection-public"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # French back-office (§13): dashboard at /, pages per sidebar entry, /connexion/.
    path("", include("rdz.core.backoffice_urls")),
]

if settings.MEDIA_SERVE:
    # Stable public URLs of the media library; in production the web server serves this
    # folder itself and requests never reach Django (README, "Médias").
    urlpatterns.append(
        re_path(rf"^{settings.MEDIA_URL.lstrip('/')}library/(?P<path>.+)$", media_file, name="media-file")
    )

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# French error pages (JSON under /api/): rdz/core/errors.py.
handler400 = "rdz.core.errors.bad_request"
handler403 = "rdz.core.errors.permission_denied"
handler404 = "rdz.core.errors.page_not_found"
handler500 = "rdz.core.errors.server_error"
