from django.urls import path

from workitems.api import views

urlpatterns = [
    path("workitems/", views.WorkItemListView.as_view(), name="api-workitems"),
    path("connectors/", views.ConnectorListView.as_view(), name="api-connectors"),
]
