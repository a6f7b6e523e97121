from django.urls import path

from approvals.slack import views

app_name = "slack"
urlpatterns = [
    path("interactivity/<uuid:connector_id>/", views.interactivity, name="interactivity"),
    path("commands/<uuid:connector_id>/", views.command, name="command"),
]
