from django.urls import path

from djangoproject.courses import views

urlpatterns = [
    path("courses/", views.create_course),
    path("courses/<str:token>/", views.course_status),
    path("webhooks/", views.webhook),
]
