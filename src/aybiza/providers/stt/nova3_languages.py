"""The ``language`` values Deepgram Nova-3 accepts, and an agent's BCP 47 tag turned into one.

Nova-3 knows fewer regional codes than agents use: Spain's ``es-ES`` is not one (Nova-3 has
``es`` and Latin America's ``es-419``) and Deepgram refuses a code it does not serve. The codes
are those Deepgram's changelog announced for Nova-3 (English at launch; 2025-08 to 2026-08 for
the others); ``multi`` is its multilingual mode, which recognises the languages of
``NOVA3_MULTI`` and reports which it heard.
"""

from __future__ import annotations

NOVA3_LANGUAGES: frozenset[str] = frozenset(
    {
        *("en", "en-US", "en-AU", "en-GB", "en-IN", "en-NZ"),
        *("es", "es-419", "fr", "fr-CA", "pt", "pt-BR", "pt-PT"),
        *("de", "de-CH", "nl", "nl-BE", "sv", "sv-SE", "da", "da-DK"),
        *("it", "tr", "no", "id", "bg", "cs", "fi", "hi", "hu", "ja", "ko", "ko-KR"),
        *("pl", "ru", "uk", "vi", "ca", "et", "el", "lv", "lt", "ms", "ro", "sk"),
        *("be", "bn", "bs", "hr", "kn", "mk", "mr", "sr", "sl", "ta", "tl", "te"),
        *("zh", "zh-CN", "zh-Hans", "zh-TW", "zh-Hant", "zh-HK", "th", "th-TH"),
        *("pa", "pa-IN", "ne"),
    }
)
NOVA3_MULTI: frozenset[str] = frozenset(
    {"en", "es", "fr", "de", "hi", "ru", "pt", "ja", "it", "nl"}
)
MULTILINGUAL = "multi"

# Spanish as spoken in the Americas is Nova-3's ``es-419``; Spain's and any other is ``es``.
_LATIN_AMERICA = frozenset(
    {"AR", "BO", "CL", "CO", "CR", "CU", "DO", "EC", "GT", "HN"}
    | {"MX", "NI", "PA", "PE", "PR", "PY", "SV", "US", "UY", "VE"}
)
_BY_LOWER = {code.lower(): code for code in NOVA3_LANGUAGES}


def nova3_language(tag: str) -> str:
    """The Nova-3 code for an agent's language tag: the tag itself when Nova-3 serves it
    (in Deepgram's spelling), ``es-419`` for Latin-American Spanish, else its primary subtag
    (``es-ES`` -> ``es``, ``fr-FR`` -> ``fr``); a tag Nova-3 has no code for is sent as given,
    for Deepgram to refuse by name."""
    cleaned = tag.strip().replace("_", "-")
    exact = _BY_LOWER.get(cleaned.lower())
    if exact is not None:
        return exact
    primary, _, region = cleaned.partition("-")
    primary = primary.lower()
    if primary == "es" and region.upper() in _LATIN_AMERICA:
        return "es-419"
    return primary if primary in NOVA3_LANGUAGES else cleaned
