"""JSON views: sign-in, and notes behind JWT scopes and rate limits."""

from __future__ import annotations

import json

from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from tigerseal.errors import InvalidCredentialsError
from tigerseal_django.conf import get_services
from tigerseal_django.web import jwt_required, rate_limit

from notes.models import Note


def health(request: HttpRequest) -> HttpResponse:
    """Liveness (not rate limited)."""
    return JsonResponse({"status": "ok"})


@rate_limit(10, 60)  # sign-in attempts per client address
def sign_in(request: HttpRequest) -> HttpResponse:
    """POST {username, password} -> an access token (401 wrong, 429 locked or too fast)."""
    body = json.loads(request.body or b"{}")
    # LockoutModelBackend raises LoginLockedError (429) when locked; the middleware maps it.
    user = authenticate(
        request, username=str(body.get("username", "")), password=str(body.get("password", ""))
    )
    if user is None:
        raise InvalidCredentialsError("wrong username or password")  # 401, same for both
    token = get_services().tokens.create(user.get_username(), scopes=["notes:read", "notes:write"])
    return JsonResponse({"access_token": token, "token_type": "Bearer"})


def notes(request: HttpRequest) -> HttpResponse:
    """GET: the caller's notes; POST {text}: add one."""
    return add_note(request) if request.method == "POST" else list_notes(request)


@jwt_required(scopes=["notes:read"])
def list_notes(request: HttpRequest) -> HttpResponse:
    """The caller's notes, decrypted."""
    mine = Note.objects.filter(owner=request.tigerseal_token.sub).order_by("id")
    return JsonResponse({"notes": [{"id": n.pk, "text": n.text} for n in mine]})


@jwt_required(scopes=["notes:write"])
@rate_limit(20, 60, key=lambda request: request.tigerseal_token.sub)  # per user
def add_note(request: HttpRequest) -> HttpResponse:
    """Store a note (encrypted, bound to its row)."""
    text = str(json.loads(request.body or b"{}").get("text", ""))
    note = Note.objects.create(owner=request.tigerseal_token.sub, text=text)
    return JsonResponse({"id": note.pk, "text": note.text}, status=201)
