from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "teams"
    verbose_name = "Teams and organizations"

    def ready(self) -> None:
        from teams import signals  # noqa: F401
