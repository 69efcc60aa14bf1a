"""Django integration for tigerseal: password hasher, encrypted model field, rate-limit and JWT middleware."""
