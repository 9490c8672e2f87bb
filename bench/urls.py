from django.urls import include, path

urlpatterns = [path("api/scoria/", include("scoria_django.api.urls"))]
