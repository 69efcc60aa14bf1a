"""URLs of the test app."""

from __future__ import annotations

from django.urls import path

from tsdj_app import views

urlpatterns = [
    path("public/", views.public),
    path("orders/", views.orders),
    path("me/", views.me),
    path("limited/", views.limited),
    path("reports/", views.reports),
    path("boom/", views.boom),
    path("login/", views.login),
    path("async-orders/", views.async_orders),
]
