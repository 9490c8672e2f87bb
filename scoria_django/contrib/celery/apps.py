from django.apps import AppConfig


class ScoriaCeleryConfig(AppConfig):
    """Listed in ``INSTALLED_APPS`` so Celery's ``autodiscover_tasks()`` imports ``tasks``."""

    name = "scoria_django.contrib.celery"
    label = "scoria_celery"
    verbose_name = "scoria on Celery"
