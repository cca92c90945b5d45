"""Start-up checks and credential comparison, without a server."""

from __future__ import annotations

import base64

import pytest

from strata.serve.app import Auth
from strata.serve.server import ServeError, ServeSettings, check_exposure, is_loopback, parse_listen


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9095") == ("127.0.0.1", 9095)
    assert parse_listen("[::1]:9095") == ("::1", 9095)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    for bad in ("9095", "host:", "host:99999", ":9095", "host:port"):
        with pytest.raises(ServeError, match="expected HOST:PORT"):
            parse_listen(bad)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("strata.lab")


def test_exposure_needs_auth_and_tls_needs_both_files() -> None:
    check_exposure(ServeSettings(host="127.0.0.1"))
    with pytest.raises(ServeError, match=r"refusing to listen on 0\.0\.0\.0"):
        check_exposure(ServeSettings(host="0.0.0.0"))
    check_exposure(ServeSettings(host="0.0.0.0", auth=Auth(token="t")))
    check_exposure(ServeSettings(host="::", auth=Auth(basic={"am": "pw"})))
    from pathlib import Path

    with pytest.raises(ServeError, match="TLS needs both"):
        check_exposure(ServeSettings(tls_cert=Path("c.pem")))


def test_credentials() -> None:
    none = Auth()
    assert not none.enabled and none.check(None) and none.check("Bearer anything")
    both = Auth(token="tok", basic={"am": "pw", "other": "x:y"})
    assert both.check("Bearer tok") and both.check("bearer  tok ")
    assert both.check(basic("am", "pw")) and both.check(basic("other", "x:y"))
    for bad in (None, "", "Bearer", "Bearer tok2", "Bearer to", "Token tok", basic("am", "x"),
                basic("pw", "am"), basic("nobody", "pw"), "Basic ###", "Basic " +
                base64.b64encode(b"no-colon").decode()):  # fmt: skip
        assert not both.check(bad), bad
    only_token = Auth(token="tok")
    assert not only_token.check(basic("am", "tok"))
