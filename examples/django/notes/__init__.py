"""The example app: notes with encrypted text."""
