from django.urls import path

from teams.api import views

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("teams/", views.TeamListView.as_view(), name="api-teams"),
    path("teams/<uuid:team_id>/", views.TeamDetailView.as_view(), name="api-team"),
    path("teams/<uuid:team_id>/members/", views.MemberListView.as_view(), name="api-team-members"),
]
