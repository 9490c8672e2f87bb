from django.apps import AppConfig


class AssistantConfig(AppConfig):
    name = "example_project.assistant"
    label = "assistant"
    verbose_name = "Assistant (scoria example)"
