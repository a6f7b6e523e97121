from django.urls import path

from workitems import pages

app_name = "workitem_pages"

urlpatterns = [
    path("", pages.work_item_index, name="index"),
    path("<uuid:pk>/", pages.work_item_detail, name="detail"),
]
