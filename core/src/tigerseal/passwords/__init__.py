"""passwords."""
