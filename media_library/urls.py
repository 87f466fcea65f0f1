from django.urls import path

from media_library import views

app_name = "media_library"

urlpatterns = [
    path("", views.media_list, name="list"),
    path("televerser/", views.media_upload, name="upload"),
    path("<int:pk>/", views.media_detail, name="detail"),
    path("<int:pk>/supprimer/", views.media_delete, name="delete"),
]
