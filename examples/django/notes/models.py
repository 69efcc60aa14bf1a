"""A note's text is encrypted, bound to this model, its column and the note's primary key."""

from __future__ import annotations

from django.db import models
from tigerseal_django.fields import EncryptedTextField


class Note(models.Model):
    """A note of a user; ``text`` is encrypted."""

    owner = models.CharField(max_length=150, db_index=True)
    text = EncryptedTextField()  # an envelope in the database, plaintext on the instance
