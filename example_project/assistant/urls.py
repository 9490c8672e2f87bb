from django.urls import path

from . import views

app_name = "assistant"
urlpatterns = [
    path("", views.home, name="home"),
    path("assistant/runs/", views.start, name="start"),
    path("assistant/runs/<uuid:run_id>/", views.run_page, name="run"),
    path("assistant/runs/<uuid:run_id>/approve/", views.approve, name="approve"),
    path("assistant/runs/<uuid:run_id>/reject/", views.reject, name="reject"),
    path("assistant/runs/<uuid:run_id>/cancel/", views.cancel, name="cancel"),
]
