"""Session fixture for softhsm (see tests/services/__init__.py)."""

from __future__ import annotations
