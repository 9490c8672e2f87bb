"""Operator pages, mounted by the host with ``path("scoria/", include("scoria_django.urls"))``.

``reverse("scoria:workflow_detail", args=[run_id])`` is the evidence page of one run.
"""

from django.urls import path

from . import views

app_name = "scoria"
urlpatterns = [
    path("workflows/<uuid:run_id>/", views.workflow_detail, name="workflow_detail"),
    path("workflows/<uuid:run_id>/stream/", views.workflow_stream, name="workflow_stream"),
]
