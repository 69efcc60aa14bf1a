"""FastAPI / Starlette integration for tigerseal: bearer JWT, API keys, rate limits, login helpers, encrypted fields."""
