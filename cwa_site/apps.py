from django.apps import AppConfig


class CwaSiteConfig(AppConfig):
    name = "cwa_site"
    verbose_name = "CWA"
