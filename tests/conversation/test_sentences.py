from aybiza.conversation.sentences import SentenceChunker


def feed_all(chunker: SentenceChunker, deltas: list[str]) -> list[str]:
    out: list[str] = []
    for delta in deltas:
        out.extend(chunker.feed(delta))
    rest = chunker.flush()
    return [*out, rest] if rest else out


def test_sentences_come_out_as_soon_as_the_next_word_starts() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("Hello there, how are") == []
    assert chunker.feed(" you today? I can") == ["Hello there, how are you today?"]
    assert chunker.flush() == "I can"


def test_a_boundary_at_the_end_of_the_buffer_waits_for_more_text() -> None:
    chunker = SentenceChunker()
    # "3." could be the start of "3.5": nothing is cut until whitespace follows.
    assert chunker.feed("The price is 3.") == []
    assert chunker.feed("5 dollars. Thanks") == ["The price is 3.5 dollars."]


def test_abbreviations_and_short_fragments_do_not_cut() -> None:
    chunker = SentenceChunker()
    text = "Dr. Smith will see you at nine. Ok. See you then!"
    assert feed_all(chunker, [text]) == [
        "Dr. Smith will see you at nine.",
        "Ok. See you then!",
    ]


def test_question_and_exclamation_marks_and_quotes_end_sentences() -> None:
    chunker = SentenceChunker()
    deltas = ['He said "we are open!" ', "Would you like to book? ", "Yes"]
    assert feed_all(chunker, deltas) == ['He said "we are open!"', "Would you like to book?", "Yes"]


def test_flush_of_an_empty_chunker_is_none() -> None:
    assert SentenceChunker().flush() is None
