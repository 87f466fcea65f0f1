from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from leads.api import ProviderLeadCreateView, ProviderLeadDetailView

admin.site.site_header = "RDZ — administration"
admin.site.site_title = "RDZ"
admin.site.index_title = "Administration des données"

api_v1 = [
    path("leads/", ProviderLeadCreateView.as_view(), name="api-lead-create"),
    path("leads/<uuid:lead_id>/", ProviderLeadDetailView.as_view(), name="api-lead-detail"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
