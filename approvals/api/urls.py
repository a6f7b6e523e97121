from django.urls import path

from approvals.api import views
from approvals.api.metrics import MetricsView

urlpatterns = [
    path("action-types/", views.ActionTypeListView.as_view(), name="api-action-types"),
    path("actions/", views.ActionListView.as_view(), name="api-actions"),
    path(
        "actions/bulk-decision/", views.BulkDecisionView.as_view(), name="api-actions-bulk-decision"
    ),
    path("actions/<uuid:action_id>/", views.ActionDetailView.as_view(), name="api-action"),
    path(
        "actions/<uuid:action_id>/decision/",
        views.DecisionView.as_view(),
        name="api-action-decision",
    ),
    path("metrics/", MetricsView.as_view(), name="api-metrics"),
    path("notifications/", views.NotificationListView.as_view(), name="api-notifications"),
    path(
        "notifications/mark-read/",
        views.NotificationMarkReadView.as_view(),
        name="api-notifications-mark-read",
    ),
]
