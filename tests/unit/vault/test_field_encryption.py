"""Field encryption and blind indexes: pure rules, where a wrong edge costs data."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safehold.errors import InvalidInput
from safehold.vault import rules
from safehold.vault.errors import DecryptionFailed

DEK = bytes(range(32))
OTHER_DEK = bytes(range(1, 33))
SUBJECT = uuid.UUID("7b0f3c5e-2d1a-4e8b-9c6f-0a1b2c3d4e5f")

subjects = st.uuids()
names = st.text(min_size=0, max_size=40)
contexts = st.tuples(subjects, names, names)


@given(text=st.text(), subject=subjects, category=names, field=names)
def test_any_text_round_trips(text: str, subject: uuid.UUID, category: str, field: str) -> None:
    blob = rules.encrypt_field(
        DEK, text.encode(), subject_id=subject, category=category, field=field
    )
    plain = rules.decrypt_field(DEK, blob, subject_id=subject, category=category, field=field)
    assert plain.decode() == text
    assert blob[0] == rules.FORMAT_V1
    assert len(blob) == len(text.encode()) + rules.OVERHEAD


@given(subject=subjects, fields=st.lists(st.tuples(names, names, st.text()), max_size=6))
def test_one_opener_opens_each_of_a_persons_fields_as_decrypt_field_does(
    subject: uuid.UUID, fields: list[tuple[str, str, str]]
) -> None:
    """The read path opens a person's fields with one opener per data key; each must be
    bound to its own category and field exactly as ``decrypt_field`` binds it."""
    blobs = [
        rules.encrypt_field(DEK, text.encode(), subject_id=subject, category=c, field=f)
        for c, f, text in fields
    ]
    open_field = rules.field_opener(DEK, subject)
    stranger = rules.field_opener(DEK, uuid.UUID(int=subject.int ^ 1))  # another person
    for (category, field, text), blob in zip(fields, blobs, strict=True):
        assert open_field(category, field, blob).decode() == text
        with pytest.raises(DecryptionFailed):
            open_field(category, field + "x", blob)
        with pytest.raises(DecryptionFailed):
            stranger(category, field, blob)


@given(
    text=st.text(min_size=1),
    origin=contexts,
    target=contexts,
)
def test_a_ciphertext_moved_to_another_person_category_or_field_never_decrypts(
    text: str, origin: tuple[uuid.UUID, str, str], target: tuple[uuid.UUID, str, str]
) -> None:
    if origin == target:
        return
    s1, c1, f1 = origin
    s2, c2, f2 = target
    blob = rules.encrypt_field(DEK, text.encode(), subject_id=s1, category=c1, field=f1)
    with pytest.raises(DecryptionFailed):
        rules.decrypt_field(DEK, blob, subject_id=s2, category=c2, field=f2)


@given(
    text=st.text(),
    context=contexts,
    which=st.sampled_from(["subject", "category", "field"]),
    other=subjects,
    suffix=st.text(min_size=1, max_size=5),
)
def test_changing_any_one_part_of_the_context_fails(
    text: str,
    context: tuple[uuid.UUID, str, str],
    which: str,
    other: uuid.UUID,
    suffix: str,
) -> None:
    subject, category, field = context
    blob = rules.encrypt_field(
        DEK, text.encode(), subject_id=subject, category=category, field=field
    )
    if which == "subject":
        subject = other if other != subject else uuid.UUID(int=subject.int ^ 1)
    elif which == "category":
        category += suffix
    else:
        field += suffix
    with pytest.raises(DecryptionFailed):
        rules.decrypt_field(DEK, blob, subject_id=subject, category=category, field=field)


@pytest.mark.parametrize(
    ("category", "field"), [("account.emai", "lemail"), ("account.emailemail", "")]
)
def test_the_associated_data_is_unambiguous(category: str, field: str) -> None:
    blob = rules.encrypt_field(
        DEK, b"x", subject_id=SUBJECT, category="account.email", field="email"
    )
    with pytest.raises(DecryptionFailed):
        rules.decrypt_field(DEK, blob, subject_id=SUBJECT, category=category, field=field)


def test_two_encryptions_of_one_value_differ_and_hide_it() -> None:
    value = b"ada.lovelace@example.com"
    one = rules.encrypt_field(DEK, value, subject_id=SUBJECT, category="c", field="f")
    two = rules.encrypt_field(DEK, value, subject_id=SUBJECT, category="c", field="f")
    assert one != two
    assert value not in one
    assert b"lovelace" not in one


@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_tampered_byte_is_refused(position: int, flip: int) -> None:
    blob = bytearray(
        rules.encrypt_field(DEK, b"secret", subject_id=SUBJECT, category="c", field="f")
    )
    blob[position % len(blob)] ^= flip
    with pytest.raises(DecryptionFailed):
        rules.decrypt_field(DEK, bytes(blob), subject_id=SUBJECT, category="c", field="f")


@pytest.mark.parametrize("cut", [0, 1, rules.OVERHEAD - 1, rules.OVERHEAD + 2])
def test_truncated_ciphertext_is_refused(cut: int) -> None:
    blob = rules.encrypt_field(DEK, b"secret", subject_id=SUBJECT, category="c", field="f")
    with pytest.raises(DecryptionFailed):
        rules.decrypt_field(DEK, blob[:cut], subject_id=SUBJECT, category="c", field="f")


def test_another_key_cannot_decrypt() -> None:
    blob = rules.encrypt_field(DEK, b"secret", subject_id=SUBJECT, category="c", field="f")
    with pytest.raises(DecryptionFailed, match="failed authentication"):
        rules.decrypt_field(OTHER_DEK, blob, subject_id=SUBJECT, category="c", field="f")


def test_keys_of_the_wrong_size_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        rules.encrypt_field(DEK[:16], b"x", subject_id=SUBJECT, category="c", field="f")


@given(value=st.text(), kind=st.sampled_from(["email", "phone"]))
def test_blind_index_is_deterministic_and_keyed(value: str, kind: str) -> None:
    digest = rules.blind_index(DEK, kind, value)
    assert digest == rules.blind_index(DEK, kind, value)
    assert len(digest) == 64
    assert int(digest, 16) >= 0
    assert digest != rules.blind_index(OTHER_DEK, kind, value)


@given(value=st.text())
def test_blind_index_differs_per_kind(value: str) -> None:
    assert rules.blind_index(DEK, "email", value) != rules.blind_index(DEK, "phone", value)


def test_blind_index_kind_and_value_do_not_run_together() -> None:
    assert rules.blind_index(DEK, "email", "x") != rules.blind_index(DEK, "emai", "lx")
    with pytest.raises(ValueError, match="kind"):
        rules.blind_index(DEK, "", "x")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ada.Lovelace@Example.COM", "ada.lovelace@example.com"),
        ("  grace@example.net\n", "grace@example.net"),
        ("First+News@example.com", "first+news@example.com"),  # tags are kept
        ("f.i.r.s.t@example.com", "f.i.r.s.t@example.com"),  # dots are kept
        ("Zoë@Example.com", "zoë@example.com"),
        ("Zoe\u0308@example.com", "zoë@example.com"),  # decomposed input, NFC form indexed
        ('"odd@local"@example.com', '"odd@local"@example.com'),
    ],
)
def test_email_normalisation(raw: str, expected: str) -> None:
    assert rules.normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "no-at-sign", "@example.com", "someone@"])
def test_email_normalisation_refuses_what_is_not_an_address(raw: str) -> None:
    with pytest.raises(InvalidInput, match="e-mail address"):
        rules.normalise_email(raw)


def test_one_person_typing_in_any_case_gets_one_index() -> None:
    forms = ["Ada@Example.com", "ada@example.com", " ADA@EXAMPLE.COM "]
    assert len({rules.blind_index(DEK, "email", rules.normalise_email(f)) for f in forms}) == 1
