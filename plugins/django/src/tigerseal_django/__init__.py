"""Django integration for tigerseal.

Password hasher, encrypted model fields, rate-limit and JWT middleware and decorators.
"""
