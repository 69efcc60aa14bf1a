"""Session fixture for redis (see tests/services/__init__.py)."""

from __future__ import annotations
