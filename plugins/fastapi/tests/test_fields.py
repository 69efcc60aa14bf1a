"""EncryptedStr: plaintext in memory, ts1. text (bound to the field's context) when serialised."""

import secrets
from collections.abc import Callable, Iterator
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp
from tigerseal.envelope import EncryptionService
from tigerseal.errors import ConfigError
from tigerseal.testing.fake import FakeKeyProvider, reset_fake_keys
from tigerseal_fastapi import Encrypted, EncryptedStr

Serve = Callable[[ASGIApp], str]


@pytest.fixture
def service() -> Iterator[EncryptionService]:
    name = "fastapi-" + secrets.token_hex(4)
    yield EncryptionService(FakeKeyProvider(name))
    reset_fake_keys(name)


@pytest.fixture
def models(service: EncryptionService) -> tuple[type[BaseModel], type[BaseModel]]:
    class Customer(BaseModel):
        name: str
        ssn: Annotated[
            EncryptedStr, Encrypted({"table": "customers", "column": "ssn"}, service=service)
        ]

    class Stored(BaseModel):
        note: Annotated[
            EncryptedStr,
            Encrypted({"table": "customers", "column": "note"}, service=service, plaintext=False),
        ]

    return Customer, Stored


def test_round_trip_and_masking(models: tuple[type[BaseModel], type[BaseModel]]) -> None:
    customer_model, _ = models
    customer = customer_model(name="Ada", ssn="078-05-1120")
    assert customer.ssn.get_secret_value() == "078-05-1120"  # type: ignore[attr-defined]
    assert "078-05-1120" not in repr(customer)
    assert "078-05-1120" not in str(customer)
    dumped = customer.model_dump()
    assert dumped["ssn"].startswith("ts1.")
    assert "078-05-1120" not in customer.model_dump_json()
    again = customer_model.model_validate(dumped)
    assert again.ssn == customer.ssn  # type: ignore[attr-defined]
    assert customer_model.model_validate_json(customer.model_dump_json()).ssn == customer.ssn  # type: ignore[attr-defined]


def test_context_is_bound(models: tuple[type[BaseModel], type[BaseModel]]) -> None:
    customer_model, stored_model = models
    ssn_text = customer_model(name="Ada", ssn="078-05-1120").model_dump()["ssn"]
    # The ciphertext of one column does not validate as another column's value.
    with pytest.raises(ValidationError, match="does not decrypt for this field"):
        stored_model(note=ssn_text)
    tampered = ssn_text[:-2] + ("AA" if not ssn_text.endswith("AA") else "BB")
    with pytest.raises(ValidationError, match="does not decrypt for this field") as info:
        customer_model(name="Ada", ssn=tampered)
    assert "078-05" not in str(info.value)


def test_plaintext_refused_when_asked(models: tuple[type[BaseModel], type[BaseModel]]) -> None:
    _, stored_model = models
    with pytest.raises(ValidationError, match="expected an encrypted value"):
        stored_model(note="plain")
    with pytest.raises(ValidationError, match="valid string"):
        stored_model(note=42)


def test_configuration_errors(service: EncryptionService) -> None:
    with pytest.raises(ConfigError, match="non-empty mapping"):
        Encrypted({})
    with pytest.raises(ConfigError, match="needs its encryption context"):

        class Bare(BaseModel):
            secret: EncryptedStr

    with pytest.raises(ConfigError, match="EncryptedStr fields only"):

        class Wrong(BaseModel):
            secret: Annotated[str, Encrypted({"t": "x"}, service=service)]


def test_value_semantics() -> None:
    assert EncryptedStr("a") == EncryptedStr("a")
    assert EncryptedStr("a") != EncryptedStr("b")
    assert len(EncryptedStr("abc")) == 3
    assert repr(EncryptedStr("abc")) == "EncryptedStr('**********')"
    with pytest.raises(TypeError):
        EncryptedStr(b"x")  # type: ignore[arg-type]


def test_over_http(serve: Serve, models: tuple[type[BaseModel], type[BaseModel]]) -> None:
    customer_model, _ = models
    app = FastAPI()
    saved: dict[str, str] = {}

    @app.post("/customers")
    async def create(customer: customer_model) -> customer_model:  # type: ignore[valid-type]
        saved["ssn"] = customer.ssn.get_secret_value()  # type: ignore[attr-defined]
        return customer

    schema_url = serve(app)
    response = httpx.post(
        schema_url + "/customers", json={"name": "Ada", "ssn": "078-05-1120"}, timeout=10
    )
    assert response.status_code == 200
    assert saved == {"ssn": "078-05-1120"}
    body = response.json()
    assert body["ssn"].startswith("ts1.")
    # The ts1. text the client got back validates again (same context), a forged one does not.
    assert httpx.post(schema_url + "/customers", json=body, timeout=10).status_code == 200
    forged = dict(body, ssn="ts1.AAAA")
    assert httpx.post(schema_url + "/customers", json=forged, timeout=10).status_code == 422
    spec = httpx.get(schema_url + "/openapi.json", timeout=10).json()
    ssn = spec["components"]["schemas"]["Customer"]["properties"]["ssn"]
    assert ssn["type"] == "string"
