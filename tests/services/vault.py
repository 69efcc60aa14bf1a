"""Session fixture for vault (see tests/services/__init__.py)."""

from __future__ import annotations
