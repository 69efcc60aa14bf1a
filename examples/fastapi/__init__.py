"""The FastAPI example service (see app.py)."""
