"""URLs of the test app (views are added by the middleware tests)."""

from __future__ import annotations

from typing import Any

urlpatterns: list[Any] = []
