"""URLs of the example project."""

from __future__ import annotations

from django.urls import path
from notes import views

urlpatterns = [
    path("health", views.health),
    path("login", views.sign_in),
    path("notes", views.notes),
]
