"""The WSGI applications bench_web_wsgi.py serves: one endpoint, bare and behind tigerseal.

``python benchmarks/_wsgi_apps.py flask|django PORT`` serves one framework's application with
werkzeug's threaded server (one thread per connection, no request log). Werkzeug closes every
connection after its response (``Connection: close``: no keep-alive), so each request is a
new TCP connection.
Each framework has the same four routes:

* ``/bare``: a view returning a small JSON object, nothing of tigerseal;
* ``/jwt``: the same behind tigerseal's ``jwt_required`` with a required scope (HS256, the
  memory revocation store consulted, as with the default settings);
* ``/rl``: the same behind ``rate_limit`` on ``memory://`` (a quota it never exhausts, so
  every request is counted and gets the RateLimit fields);
* ``/jwt_rl``: both decorators.

The JWT secret comes from ``BENCH_JWT_SECRET``; the settings are given the framework's way
(``app.config["TIGERSEAL_*"]``, ``settings.TIGERSEAL``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

LIMIT = (10**9, 3600)  # never exhausted in a run


def flask_app() -> Any:
    from flask import Flask
    from tigerseal_flask import TigerSeal, jwt_required, rate_limit

    app = Flask("bench_flask")
    app.config.update(
        TIGERSEAL_JWT_SECRET=os.environ["BENCH_JWT_SECRET"],
        TIGERSEAL_RATE_LIMIT_STORAGE="memory://",
        TIGERSEAL_RATE_LIMIT_ALGORITHM="gcra",
    )
    TigerSeal(app)
    body = {"ok": True}

    @app.get("/bare")
    def bare() -> Any:
        return body

    @app.get("/jwt")
    @jwt_required(scopes=["read"])
    def jwt() -> Any:
        return body

    @app.get("/rl")
    @rate_limit(*LIMIT, name="api")
    def rl() -> Any:
        return body

    @app.get("/jwt_rl")
    @jwt_required(scopes=["read"])
    @rate_limit(*LIMIT, name="api")
    def jwt_rl() -> Any:
        return body

    return app


def django_app() -> Any:
    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-" + "x" * 50,
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        # CommonMiddleware sets Content-Length, as in a default project.
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
        INSTALLED_APPS=[],
        USE_TZ=True,
        TIGERSEAL={
            "JWT_SECRET": os.environ["BENCH_JWT_SECRET"],
            "RATE_LIMIT_STORAGE": "memory://",
            "RATE_LIMIT_ALGORITHM": "gcra",
        },
    )
    django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def _django_urls() -> list[Any]:
    from django.http import HttpRequest, HttpResponse, JsonResponse
    from django.urls import path
    from tigerseal_django.web import jwt_required, rate_limit

    def bare(request: HttpRequest) -> HttpResponse:
        return JsonResponse({"ok": True})

    jwt = jwt_required(scopes=["read"])(bare)
    rl = rate_limit(*LIMIT, name="api")(bare)
    jwt_rl = jwt_required(scopes=["read"])(rate_limit(*LIMIT, name="api")(bare))
    return [path("bare", bare), path("jwt", jwt), path("rl", rl), path("jwt_rl", jwt_rl)]


def __getattr__(name: str) -> Any:
    # Django reads ROOT_URLCONF's urlpatterns after setup(): built lazily, Django imported.
    if name == "urlpatterns":
        return _django_urls()
    raise AttributeError(name)


def make(framework: str) -> Any:
    """The WSGI application of ``framework`` (``flask`` or ``django``)."""
    return {"flask": flask_app, "django": django_app}[framework]()


def serve(framework: str, port: int) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    server = make_server("127.0.0.1", port, make(framework), threaded=True, request_handler=Quiet)
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
