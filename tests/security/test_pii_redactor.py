"""The PII redactor, category by category, in the forms callers' words reach it: written by a
recogniser that formats numbers, spoken as number words, and the near misses it must leave."""

from __future__ import annotations

import pytest

from aybiza.security.pii import CATEGORIES, LABELS, NO_REDACTION, Category, Redactor, phone_region
from aybiza.security.pii.spoken import normalise

EVERYTHING = Redactor(CATEGORIES)


def found(text: str, prompt: str = "", redactor: Redactor = EVERYTHING) -> list[tuple[str, str]]:
    """(category, the words found) for each finding."""
    return [(f.category, text[f.start : f.end]) for f in redactor.find(text, prompt)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("my card is 4111 1111 1111 1111 thanks", "4111 1111 1111 1111"),
        ("It's 5500-0000-0000-0004.", "5500-0000-0000-0004"),
        ("amex 378282246310005", "378282246310005"),
        (
            "four one one one one one one one one one one one one one one one",
            "four one one one one one one one one one one one one one one one",
        ),
        (
            "it's forty one eleven, eleven eleven, eleven eleven, eleven eleven ok",
            "forty one eleven, eleven eleven, eleven eleven, eleven eleven",
        ),
        (
            "five five double oh, double oh double oh, double oh double oh, double oh oh four",
            "five five double oh, double oh double oh, double oh double oh, double oh oh four",
        ),
    ],
)
def test_card_numbers_are_found_written_and_spoken(text: str, value: str) -> None:
    assert found(text) == [("credit_card", value)]


@pytest.mark.parametrize(
    "text",
    [
        "It's 4111 1111 1111 1112.",  # one digit off: the Luhn check fails
        "my loyalty card number is 9999 8888 7777 6666",  # no card network starts with 9
        "order number 1234 5678 9012 3456",
    ],
)
def test_numbers_that_fail_luhn_or_start_like_no_card_are_not_cards(text: str) -> None:
    assert found(text) == []


def test_a_card_followed_by_its_expiry_is_found_without_the_expiry() -> None:
    text = "card 4111 1111 1111 1111 12 25 is what I have"
    assert found(text, redactor=Redactor(["credit_card"])) == [
        ("credit_card", "4111 1111 1111 1111")
    ]


def test_expiry_and_cvv_need_their_cue_said_or_asked() -> None:
    assert found("expires 12/25 and the cvv is 737") == [
        ("card_expiry", "12/25"),
        ("cvv", "737"),
    ]
    assert found("twelve twenty five", "What's the expiry date on the card?") == [
        ("card_expiry", "twelve twenty five")
    ]
    assert found("seven three seven", "And the security code on the back?") == [
        ("cvv", "seven three seven")
    ]
    assert found("I'll pay on 12/15 when I get paid.") == []
    assert found("The promo expires at 12 30 tonight.") == []
    assert found("It costs 129 dollars.", "What's the security code?") == []


def test_social_security_numbers_grouped_named_or_last_four() -> None:
    assert found("my social is 123-45-6789") == [("ssn", "123-45-6789")]
    assert found("five three six, two two, one two three four") == [
        ("ssn", "five three six, two two, one two three four")
    ]
    assert found("It's 456789012.", "Can you verify your Social Security number?") == [
        ("ssn", "456789012")
    ]
    assert found("last four of my social is six seven eight nine") == [
        ("ssn", "six seven eight nine")
    ]
    # Any number of that shape is redacted (ITINs too), but no issued number has a group of
    # zeros; 3-2-3 is not the grouping of an SSN.
    assert found("my social is 078-05-1120") == [("ssn", "078-05-1120")]
    assert found("it's 000-12-3456") == []
    assert found("Part number 123-45-678.") == []


def test_phone_numbers_written_spoken_and_international() -> None:
    assert found("Call me at (415) 555-0132.") == [("phone_number", "(415) 555-0132")]
    assert found("My mobile is +44 20 7946 0958.") == [("phone_number", "+44 20 7946 0958")]
    assert found("my number is four one five, five five five, oh one three two") == [
        ("phone_number", "four one five, five five five, oh one three two")
    ]
    assert found("the number is one eight hundred five five five oh one nine nine") == [
        ("phone_number", "one eight hundred five five five oh one nine nine")
    ]
    assert found("My cell is 555-0132.") == [("phone_number", "555-0132")]
    # Written as a phone number, a number of no real area code is one all the same.
    assert found("my number is (555) 123-4567") == [("phone_number", "(555) 123-4567")]


def test_numbers_named_as_something_else_are_not_phone_numbers() -> None:
    assert found("My order number is 2125550143.") == []
    assert found("It's 3125550143.", "What's your order number?") == []
    assert found("press 1 for sales or 2 for support") == []


def test_national_phone_numbers_follow_the_agent_s_country() -> None:
    text = "my cell is 020 7946 0958"
    assert found(text) == []
    british = Redactor(["phone_number"], region=phone_region("en-GB"))
    assert found(text, redactor=british) == [("phone_number", "020 7946 0958")]
    assert phone_region("en-GB") == "GB" and phone_region("es") == "US"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("My email is john@example.com.", "john@example.com"),
        ("my email is john at example dot com", "john at example dot com"),
        ("it's john dot smith at gmail dot com", "john dot smith at gmail dot com"),
        ("j o h n at yahoo dot com", "j o h n at yahoo dot com"),
        ("anna twenty three at yahoo dot com", "anna twenty three at yahoo dot com"),
        ("sarah underscore lee at hotmail dot com", "sarah underscore lee at hotmail dot com"),
        ("my email address is jane doe at gmail dot com", "jane doe at gmail dot com"),
    ],
)
def test_emails_written_and_spoken(text: str, value: str) -> None:
    assert found(text) == [("email", value)]


@pytest.mark.parametrize(
    "text",
    [
        "Meet me at the dot of noon.",
        "I work at acme dot com.",
        "Visit us at www dot acme dot com.",
        "I bought it at amazon dot com last week.",
    ],
)
def test_places_said_with_at_and_dot_are_not_emails(text: str) -> None:
    assert found(text) == []


def test_dates_of_birth_need_a_birth_said_or_asked() -> None:
    assert found("date of birth is march fourth nineteen eighty") == [
        ("date_of_birth", "march fourth nineteen eighty")
    ]
    assert found("oh three oh four nineteen eighty", "What is your date of birth?") == [
        ("date_of_birth", "oh three oh four nineteen eighty")
    ]
    assert found("I was born on July 12, 1975.") == [("date_of_birth", "July 12, 1975")]
    assert found("I have an appointment on March 4th.") == []
    assert found("The invoice date is 03/04/2021.") == []
    assert found("I was born in 1980.") == []


def test_bank_accounts_and_ibans() -> None:
    assert found("The routing is 011000015 and the account is 9876543210.") == [
        ("bank_account", "011000015"),
        ("bank_account", "9876543210"),
    ]
    assert found("savings account number four four five five six six seven seven") == [
        ("bank_account", "four four five five six six seven seven")
    ]
    assert found("My IBAN is DE89 3704 0044 0532 0130 00.") == [
        ("iban", "DE89 3704 0044 0532 0130 00")
    ]
    spelled = "g b eight two w e s t one two three four five six nine eight seven six five four "
    spelled += "three two"
    assert found(spelled) == [("iban", spelled)]
    # The check digits are wrong; money is not an account number.
    assert found("GB82 WEST 1234 5698 7654 33") == []
    assert found("I deposited $120,000 at the bank last year.") == []


def test_street_addresses_written_and_spoken() -> None:
    assert found("Ship it to 742 Evergreen Terrace, Springfield, OR 97475.") == [
        ("address", "742 Evergreen Terrace, Springfield, OR 97475")
    ]
    assert found("one two three main street apartment four b") == [
        ("address", "one two three main street apartment four b")
    ]
    assert found("Send it to PO Box 4521.") == [("address", "PO Box 4521")]
    assert found("I walked 3 blocks down the road.") == []
    assert found("It's about 5 minutes from Main Street.") == []


def test_pins_and_passwords_said_aloud() -> None:
    assert found("my pin is one two three four") == [("pin", "one two three four")]
    assert found("one nine eight four", "Please say your four digit PIN.") == [
        ("pin", "one nine eight four")
    ]
    assert found("the password is tiger lily") == [("password", "tiger lily")]
    assert found("tiger lily", "What's the password on the account?") == [
        ("password", "tiger lily")
    ]
    assert found("My password is hunter2 and my PIN is 1234.") == [
        ("password", "hunter2"),
        ("pin", "1234"),
    ]
    for text in ("I forgot my password.", "The password is wrong.", "I need to reset my PIN."):
        assert found(text) == [], text
    assert found("I don't remember it.", "What's your password?") == []


def test_replace_with_category_writes_the_label_and_mask_keeps_the_shape() -> None:
    text = "card 4111 1111 1111 1111, email john at example dot com"
    labelled = Redactor(["credit_card", "email"]).redact(text)
    assert labelled == "card [CREDIT_CARD], email [EMAIL]"
    masked = Redactor(["credit_card", "email"], mode="mask").redact(text)
    assert masked == "card #### #### #### ####, email **** ** ******* *** ***"
    assert LABELS["date_of_birth"] == "[DATE_OF_BIRTH]"


def test_only_the_chosen_categories_are_redacted() -> None:
    text = "my email is jo@example.com and my pin is 1234"
    assert Redactor(["pin"]).redact(text) == "my email is jo@example.com and my pin is [PIN]"
    assert NO_REDACTION.redact(text) == text and not NO_REDACTION.enabled


def test_overlapping_findings_keep_the_category_that_ranks_first() -> None:
    # An account number cue before a Luhn-valid card number: it is a card.
    assert found("account number 4111 1111 1111 1111") == [("credit_card", "4111 1111 1111 1111")]


def test_json_values_are_redacted_in_every_string_and_keys_are_kept() -> None:
    value = {"email": "jo@example.com", "items": ["pin is 1234", 3], "ok": True}
    assert Redactor(["email", "pin"]).redact_value(value) == {
        "email": "[EMAIL]",
        "items": ["pin is [PIN]", 3],
        "ok": True,
    }


def test_unknown_categories_are_refused_naming_them() -> None:
    unknown: list[Category] = ["credit_card", "blood_type"]  # type: ignore[list-item]
    with pytest.raises(ValueError, match="blood_type"):
        Redactor(unknown)


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("four one one one", "4111"),
        ("oh four twenty six", "0426"),
        ("double five triple seven", "55777"),
        ("nineteen eighty-five", "1985"),
        ("two thousand and five", "2005"),
        ("fifteen hundred", "1500"),
        ("the twenty first of june", "the 21st of june"),
        ("three fifty fifth avenue", "350 5th avenue"),
        ("eight hundred five five five", "800555"),
        ("Oh, I see", "Oh, I see"),
        ("five o'clock", "5 o'clock"),
        ("double check", "double check"),
    ],
)
def test_number_words_become_digits(spoken: str, digits: str) -> None:
    assert normalise(spoken).text == digits


def test_a_finding_in_normalised_text_maps_back_to_the_words_said() -> None:
    original = "my pin is one two three four, thanks"
    normalised = normalise(original)
    start = normalised.text.index("1234")
    first, last = normalised.original_span(start, start + 4)
    assert original[first:last] == "one two three four"
    assert normalised.original_span(0, 2) == (0, 2)
