from django.urls import path

from workitems import views

app_name = "workitems"
urlpatterns = [
    path("hooks/<slug:kind>/<uuid:connector_id>/", views.webhook, name="webhook"),
]
