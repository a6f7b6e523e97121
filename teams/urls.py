from django.urls import path

from teams import views

app_name = "teams"

urlpatterns = [
    path("", views.index, name="index"),
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/autonomy/", views.autonomy, name="autonomy"),
    path("<uuid:pk>/status/", views.status, name="status"),
    path("organizations/<uuid:pk>/kill-switch/", views.kill_switch, name="kill-switch"),
    path("suggestions/<uuid:pk>/", views.suggestion, name="suggestion"),
]
