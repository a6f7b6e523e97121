from django.urls import path

from policies.api import views

urlpatterns = [
    path("policies/", views.PolicyListView.as_view(), name="api-policies"),
]
