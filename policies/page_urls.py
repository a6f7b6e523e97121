from django.urls import path

from policies import pages

app_name = "policy_pages"

urlpatterns = [
    path("", pages.policy_index, name="index"),
    path("<uuid:pk>/", pages.policy_detail, name="detail"),
]
