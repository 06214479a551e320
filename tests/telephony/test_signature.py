from aybiza.telephony.twilio.signature import public_url, valid_signature, websocket_signature_valid


def test_twilio_published_vector_validates() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert valid_signature("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not valid_signature("12345", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8X")
    assert not valid_signature("54321", url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_websocket_upgrade_signature_over_the_wss_url() -> None:
    assert websocket_signature_valid(
        "12345", "wss://example.com/media", "7PR3qMkpDyEJtMrVOY/LDyNq8J8="
    )
    assert not websocket_signature_valid(
        "12345", "wss://example.com/other", "7PR3qMkpDyEJtMrVOY/LDyNq8J8="
    )


def test_public_url_prefers_the_configured_base() -> None:
    assert (
        public_url(
            configured="https://voice.example.com",
            scheme="http",
            host="10.0.0.5:8080",
            path="/twilio/stream",
            query="",
            websocket=True,
        )
        == "wss://voice.example.com/twilio/stream"
    )
    assert (
        public_url(
            configured=None,
            scheme="http",
            host="127.0.0.1:8080",
            path="/twilio/voice",
            query="a=1",
            websocket=False,
        )
        == "http://127.0.0.1:8080/twilio/voice?a=1"
    )
