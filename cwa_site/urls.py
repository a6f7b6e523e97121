from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from approvals import views as approval_views
from cwa_site import views

urlpatterns = [
    path("", approval_views.home, name="home"),
    path("", include("approvals.urls")),
    path("teams/", include("teams.urls")),
    path("workitems/", include("workitems.page_urls")),
    path("policies/", include("policies.page_urls")),
    path("admin/", admin.site.urls),
    path("api/", include("cwa_site.api_urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("slack/", include("approvals.slack.urls")),
    path("", include("workitems.urls")),
]

if settings.DEBUG:
    urlpatterns.append(path("demo/hooks/<slug:key>/", views.demo_hook, name="demo-hook"))
