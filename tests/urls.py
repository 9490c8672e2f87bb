from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/scoria/", include("scoria_django.api.urls")),
    path("scoria/", include("scoria_django.urls")),
]
