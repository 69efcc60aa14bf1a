"""Red-team checks of tigerseal-flask: typo'd configuration, async views, bad challenges."""

from __future__ import annotations

from typing import Any

import pytest
from tigerseal.errors import ConfigError


def _app(name: str = "tsflask_attacks", **config: Any) -> Any:
    from flask import Flask
    from tigerseal_flask import TigerSeal

    app = Flask(name)
    app.config.update(config)
    TigerSeal(app)

    @app.get("/a")
    def a() -> Any:
        return {"ok": True}

    return app


def test_rate_limit_exempt_given_as_one_string_is_not_every_path() -> None:
    # tuple("/health") is ('/', 'h', ...): every path would start with an exempt "prefix".
    with pytest.raises(ConfigError, match="RATE_LIMIT_EXEMPT"):
        _app(TIGERSEAL_RATE_LIMIT=(2, 60), TIGERSEAL_RATE_LIMIT_EXEMPT="/health")


@pytest.mark.parametrize("exempt", [["health"], [""], 5, [b"/health"]])
def test_rate_limit_exempt_entries_must_be_absolute_paths(exempt: Any) -> None:
    with pytest.raises(ConfigError, match="RATE_LIMIT_EXEMPT"):
        _app(TIGERSEAL_RATE_LIMIT=(2, 60), TIGERSEAL_RATE_LIMIT_EXEMPT=exempt)


def test_decorators_work_on_async_views() -> None:
    from tigerseal_flask import jwt_required, rate_limit

    app = _app()

    @app.get("/async")
    @jwt_required
    @rate_limit(5, 60, name="async")
    async def async_view() -> Any:
        return {"async": True}

    client = app.test_client()
    assert client.get("/async").status_code == 401
    token = app.extensions["tigerseal"].services.tokens.create("ada")
    response = client.get("/async", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {"async": True}
    assert response.headers["RateLimit-Policy"] == '"async";q=5;w=60'


@pytest.mark.parametrize("scopes", [["orders read"], ['a"b'], ["naïve"]])
def test_scopes_that_cannot_be_sent_in_a_challenge_are_refused_when_decorating(
    scopes: list[str],
) -> None:
    # Otherwise every unauthenticated request to the view is a 500 (the challenge fails).
    from tigerseal_flask import api_key_required, jwt_required

    with pytest.raises(ConfigError, match="scope"):
        jwt_required(scopes=scopes)
    with pytest.raises(ConfigError, match="scope"):
        api_key_required(lambda _id: None, scopes=scopes)


def test_a_realm_that_cannot_be_sent_is_refused_at_init_app() -> None:
    with pytest.raises(ConfigError, match="REALM"):
        _app(TIGERSEAL_REALM='ap"i\r\nX-Injected: 1')


def test_two_apps_in_one_process_keep_their_own_quotas() -> None:
    # Both on the process-wide limiter (no tigerseal setting in either config): app one's
    # requests used to count against app two's quota of the same name ("app").
    one = _app("one", TIGERSEAL_RATE_LIMIT=(100, 60))
    two = _app("two", TIGERSEAL_RATE_LIMIT=(2, 60))
    first, second = one.test_client(), two.test_client()
    assert [first.get("/a").status_code for _ in range(3)] == [200, 200, 200]
    assert [second.get("/a").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("/a").headers["RateLimit-Policy"] == '"app";q=2;w=60'


def test_a_django_style_tigerseal_dict_is_an_error_not_ignored() -> None:
    with pytest.raises(ConfigError, match="TIGERSEAL_JWT_SECRET"):
        _app(TIGERSEAL={"JWT_SECRET": "x" * 48})


def test_two_views_of_one_name_do_not_share_a_default_quota() -> None:
    # The default quota name is the view's __name__; two blueprints' "index" views shared one
    # counter, so requests to one used up the other's quota.
    from flask import Blueprint
    from tigerseal_flask import rate_limit

    app = _app()
    for prefix in ("a", "b"):
        blueprint = Blueprint(prefix, __name__ + prefix, url_prefix="/" + prefix)

        def index() -> Any:
            return {"ok": True}

        index.__qualname__ = f"{prefix}.index"  # as if defined in two modules
        blueprint.get("/")(rate_limit(2, 60)(index))
        app.register_blueprint(blueprint)
    client = app.test_client()
    assert [client.get("/a/").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/b/").status_code == 200
    assert client.get("/b/").headers["RateLimit-Policy"] == '"index";q=2;w=60'
