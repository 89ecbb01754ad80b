"""Language ID: labels on real sentences in several languages, hostile rows, parameters refused, decisions."""

from __future__ import annotations

import pytest

from curation.operations import base
from curation.operations.language import LanguageId

OP = LanguageId()
LOW = {"accuracy": "low"}  # trigram models only: loads in about a second (high accuracy: 10-30 s and ~900 MB)

# Everyday sentences and their translations (Tatoeba-style), not text the detector was built from.
CASES = [
    ("Can you recommend a good book to read on the train?", "en"),
    ("¿Puedes recomendarme un buen libro para leer en el tren?", "es"),
    ("Kannst du mir ein gutes Buch für die Zugfahrt empfehlen?", "de"),
    ("Peux-tu me recommander un bon livre à lire dans le train ?", "fr"),
    ("Puoi consigliarmi un buon libro da leggere in treno?", "it"),
    ("Você pode me recomendar um bom livro para ler no trem?", "pt"),
    ("Можешь посоветовать хорошую книгу, чтобы почитать в поезде?", "ru"),
    ("你能推荐一本在火车上读的好书吗？", "zh"),
    ("電車で読むのにいい本を教えてくれませんか。", "ja"),
    ("기차에서 읽을 만한 좋은 책을 추천해 줄 수 있어요?", "ko"),
    ("هل يمكنك أن توصي بكتاب جيد للقراءة في القطار؟", "ar"),
    ("Kun je me een goed boek aanraden om in de trein te lezen?", "nl"),
    ("Czy możesz polecić dobrą książkę do czytania w pociągu?", "pl"),
    ("Trende okumak için iyi bir kitap önerebilir misin?", "tr"),
]


@pytest.mark.parametrize(("text", "code"), CASES)
def test_labels_the_language_of_the_whole_row(text: str, code: str) -> None:
    [signal] = OP.score([base.RowText(1, 1, text)], OP.params(LOW))
    assert signal.label == code
    assert 0.5 < signal.score <= 1.0
    assert signal.evidence["top"][0]["language"] == code


@pytest.mark.slow
def test_high_accuracy_mode_labels_every_sentence() -> None:
    # All 75 languages at high accuracy take 10-60 s to load; the table's languages and some they are confused
    # with (Latin, Afrikaans, Tagalog, Catalan, Danish) keep the same code path at a fraction of the cost.
    candidates = sorted({code for _, code in CASES} | {"la", "af", "tl", "ca", "da"})
    rows = [base.RowText(i, 1, text) for i, (text, _) in enumerate(CASES)]
    signals = OP.score(rows, OP.params({"candidates": candidates}))
    assert [s.label for s in signals] == [code for _, code in CASES]
    assert all(0.0 < s.score <= 1.0 for s in signals)


def test_instruction_input_and_output_are_read_together() -> None:
    row = base.RowText(7, 2, "Traduce al inglés.", input="El gato duerme en la cocina.", output="Gato dormido.")
    assert OP.score([row], OP.params(LOW))[0].label == "es"


@pytest.mark.parametrize(
    ("row", "label"),
    [
        (base.RowText(1, 1, ""), "unknown"),
        (base.RowText(2, 1, "12345 + 678 = ?", output="7023"), "unknown"),
        (base.RowText(3, 1, "", messages=[{"role": "user", "content": "Wie spät ist es in Berlin gerade?"}]), "de"),
        # huge: only the first max_chars characters are read
        (base.RowText(4, 1, "Please summarise the following paragraph in two sentences. " * 5000), "en"),
    ],
)
def test_hostile_rows(row: base.RowText, label: str) -> None:
    assert OP.score([row], OP.params(LOW))[0].label == label


def test_candidates_restrict_the_languages_considered() -> None:
    rows = [base.RowText(1, 1, "Kannst du mir ein gutes Buch für die Zugfahrt empfehlen?")]
    [signal] = OP.score(rows, OP.params({**LOW, "candidates": ["en", "fr"]}))
    assert signal.label in ("en", "fr")
    assert {t["language"] for t in signal.evidence["top"]} <= {"en", "fr"}


def test_decide_rejects_rows_outside_keep_and_respects_min_confidence() -> None:
    signals = [
        base.Signal(1, 0.99, "en"),
        base.Signal(2, 0.95, "de"),
        base.Signal(3, 0.40, "la"),
        base.Signal(4, 0.0, "unknown"),
        base.Signal(5, 0.90, "fr"),
    ]
    decided = OP.decide(signals, OP.params({"keep": ["en", "fr"], "min_confidence": 0.5}))
    assert [(d.id, d.status) for d in decided] == [(2, "rejected")]
    assert decided[0].reason == "language de (0.95) not in keep ['en', 'fr']"
    assert [d.id for d in OP.decide(signals, OP.params())] == [2, 5]  # default min_confidence 0.5
    assert [d.id for d in OP.decide(signals, OP.params({"min_confidence": 0.0}))] == [2, 3, 5]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"keep": []}, "keep must name at least one language"),
        ({"keep": ["english"]}, "keep must be a list of ISO 639-1 codes"),
        ({"keep": "en"}, "keep must be a list of ISO 639-1 codes"),
        ({"candidates": ["xx"]}, "candidates must be a list of ISO 639-1 codes"),
        ({"min_confidence": 1.5}, r"min_confidence must be in \[0, 1\]; got 1.5"),
        ({"accuracy": "medium"}, "accuracy must be one of"),
        ({"max_chars": 0}, "max_chars must be >= 1; got 0"),
    ],
)
def test_bad_parameters_are_refused_with_the_rule(given: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OP.params(given)
