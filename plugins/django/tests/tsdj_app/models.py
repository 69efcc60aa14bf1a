"""Models of the test app: an auto-increment key, a UUID key with a blind index."""

from __future__ import annotations

import uuid

from django.db import models
from tigerseal_django.fields import BlindIndexField, EncryptedTextField


class Note(models.Model):
    """Database-assigned primary key: encrypted right after the INSERT."""

    title = models.CharField(max_length=100, default="")
    body = EncryptedTextField()
    secret = EncryptedTextField(null=True, blank=True)

    class Meta:
        app_label = "tsdj_app"


class Customer(models.Model):
    """Client-side primary key, an exact-lookup blind index over the e-mail."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    email = EncryptedTextField()
    email_bidx = BlindIndexField(source="email", index="customers", normalize=str.casefold)

    class Meta:
        app_label = "tsdj_app"


class SignedNote(Note):
    """Multi-table inheritance: the parent's encrypted fields, saved through the child."""

    signature = EncryptedTextField()

    class Meta:
        app_label = "tsdj_app"


class ArchivedNote(Note):
    """A child with no encrypted field of its own: only the parent's."""

    archived_by = models.CharField(max_length=100, default="")

    class Meta:
        app_label = "tsdj_app"
