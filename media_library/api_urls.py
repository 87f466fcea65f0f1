from django.urls import path

from media_library.api import MediaAssetDetailView, MediaAssetListView

urlpatterns = [
    path("", MediaAssetListView.as_view(), name="api-media-list"),
    path("<int:pk>/", MediaAssetDetailView.as_view(), name="api-media-detail"),
]
