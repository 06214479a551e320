"""Deepgram Aura voice names: Aura-1 names mapped to Aura-2, and an Aura-2 voice per language.

Aura-1 (``aura-asteria-en``, no ``-2-``) is Deepgram's first-generation, English-only model,
being retired; the seed's agent still names it. Eight Aura-1 voices have an Aura-2 voice of the
same name; the other four (stella, perseus, angus, helios) have none, and map to the Aura-2
voice of the same expressed gender and nearest accent. Aura-2 speaks seven languages; the
voice per language below is Deepgram's own featured voice where it has one (from the
``SpeakV1Model`` enum of deepgram-sdk 7.17 and Deepgram's "Voices and Languages" page).
"""

from __future__ import annotations

AURA1_TO_AURA2: dict[str, str] = {
    "aura-asteria-en": "aura-2-asteria-en",
    "aura-luna-en": "aura-2-luna-en",
    "aura-athena-en": "aura-2-athena-en",
    "aura-hera-en": "aura-2-hera-en",
    "aura-orion-en": "aura-2-orion-en",
    "aura-arcas-en": "aura-2-arcas-en",
    "aura-orpheus-en": "aura-2-orpheus-en",
    "aura-zeus-en": "aura-2-zeus-en",
    # No Aura-2 voice of these names: same expressed gender, nearest accent.
    "aura-stella-en": "aura-2-thalia-en",  # feminine, American
    "aura-perseus-en": "aura-2-apollo-en",  # masculine, American
    "aura-angus-en": "aura-2-draco-en",  # masculine, Irish -> British
    "aura-helios-en": "aura-2-draco-en",  # masculine, British
}

# The Aura-2 voice an agent speaks a language with when it names none of its own, by the
# language's primary subtag (``es-ES`` -> ``es``).
AURA2_VOICE_BY_LANGUAGE: dict[str, str] = {
    "en": "aura-2-thalia-en",
    "es": "aura-2-celeste-es",
    "de": "aura-2-viktoria-de",
    "fr": "aura-2-agathe-fr",
    "nl": "aura-2-rhea-nl",
    "it": "aura-2-livia-it",
    "ja": "aura-2-izanami-ja",
}


def primary_subtag(language: str) -> str:
    """``es-ES`` -> ``es`` (also for ``es_ES`` and upper case)."""
    return language.strip().replace("_", "-").split("-")[0].lower()


def is_aura(voice: str) -> bool:
    """Whether ``voice`` is a Deepgram Aura voice name (either generation)."""
    return voice.strip().startswith("aura-")


def aura2_voice(voice: str) -> str:
    """The Aura-2 name for an Aura-1 name; any other name as given."""
    name = voice.strip()
    return AURA1_TO_AURA2.get(name, name)


def aura_voice_language(voice: str) -> str | None:
    """The language an Aura voice speaks, from its suffix (``aura-2-celeste-es`` -> ``es``)."""
    if not is_aura(voice):
        return None
    return voice.strip().rsplit("-", 1)[-1].lower()


def aura_voice_for(language: str, agent_voice: str) -> str | None:
    """The Aura voice to speak ``language`` with: the agent's own when it speaks that
    language, else Aura-2's voice of the language; None when Aura-2 has none."""
    wanted = primary_subtag(language)
    if aura_voice_language(agent_voice) == wanted:
        return agent_voice
    return AURA2_VOICE_BY_LANGUAGE.get(wanted)


def voice_mapping(voices: list[str]) -> str | None:
    """How the Aura-1 names among ``voices`` are sent (``"aura-asteria-en ->
    aura-2-asteria-en"``, several joined by ``"; "``), or None when none is Aura-1."""
    mapped = [f"{v} -> {AURA1_TO_AURA2[v]}" for v in dict.fromkeys(voices) if v in AURA1_TO_AURA2]
    return "; ".join(mapped) or None
