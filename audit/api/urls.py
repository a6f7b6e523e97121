from django.urls import path

from audit.api import views

urlpatterns = [path("audit/", views.AuditEventListView.as_view(), name="api-audit")]
