"""A Django app for the tigerseal-django tests (configured by ../conftest.py)."""
