from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("approvals/", views.queue, name="queue"),
    path("approvals/rows/", views.live_rows, name="rows"),
    path("approvals/bulk/", views.bulk_decide, name="bulk"),
    path("approvals/<uuid:pk>/", views.detail, name="detail"),
    path("approvals/<uuid:pk>/decide/", views.decide, name="decide"),
    path("approvals/<uuid:pk>/preview/", views.preview, name="preview"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/read/", views.inbox_read, name="inbox-read"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
