from django.apps import AppConfig


class ScoriaConfig(AppConfig):
    name = "scoria_django"
    label = "scoria_django"
    verbose_name = "Scoria runs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
        from .runtime.dispatch import enqueue_step
        from .transitions.journal import set_waker

        # The engine wakes runnable steps through the task framework.
        set_waker(enqueue_step)
