from django.apps import AppConfig


class ConfigConfig(AppConfig):
    name = "config"
    verbose_name = "Tollbooth configuration"

    def ready(self) -> None:
        from config.api import schema  # noqa: F401  (registers the OpenAPI extensions)
