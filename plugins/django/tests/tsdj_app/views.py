"""Views of the test app."""

from __future__ import annotations

import json

from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from tigerseal.apikeys import APIKeyRecord
from tigerseal.errors import RateLimitExceeded
from tigerseal_django.conf import get_services
from tigerseal_django.web import api_key_required, client_ip, jwt_required, rate_limit

#: key id -> record, filled by the tests.
API_KEYS: dict[str, APIKeyRecord] = {}


def public(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ip": client_ip(request)})


@jwt_required(scopes=["orders:read"])
def orders(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": request.tigerseal_token.sub})  # type: ignore[attr-defined]


@jwt_required
def me(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": request.tigerseal_token.sub})  # type: ignore[attr-defined]


@rate_limit(3, 60, name="limited")
def limited(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})


@api_key_required(API_KEYS.get, scopes=["reports"])
def reports(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"key": request.tigerseal_api_key.key_id})  # type: ignore[attr-defined]


def boom(request: HttpRequest) -> HttpResponse:
    raise RateLimitExceeded("internal detail: bucket 42", retry_after=7)


def login(request: HttpRequest) -> HttpResponse:
    body = json.loads(request.body)
    user = authenticate(request, username=body["username"], password=body["password"])
    if user is None:
        return JsonResponse({"error": "invalid_credentials"}, status=401)
    token = get_services().tokens.create(user.get_username(), scopes=["orders:read"])
    return JsonResponse({"access_token": token})


@jwt_required(scopes=["orders:read"])
@rate_limit(2, 60, name="async_limited")
async def async_orders(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"user": request.tigerseal_token.sub})  # type: ignore[attr-defined]
