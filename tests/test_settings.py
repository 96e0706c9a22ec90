import pytest
from pydantic import ValidationError

from backend.settings import DEV_SECRET, Settings


def test_default_secret_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key=DEV_SECRET)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(environment="production", secret_key="short")


def test_a_real_secret_is_accepted_in_production() -> None:
    assert Settings(environment="production", secret_key="k" * 40).secret_key == "k" * 40
