"""Unsubscribe tokens: only genuine ones name an e-mail; everything else is refused."""

from __future__ import annotations

import os
import re
import uuid

from hypothesis import given
from hypothesis import strategies as st

from safehold.comms import tokens

KEY = tokens.derive_key(b"\x01" * 32)
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$")


@given(st.uuids(), st.binary(min_size=32, max_size=32))
def test_a_token_names_its_e_mail_under_its_key_only(item_id: uuid.UUID, index_key: bytes) -> None:
    key = tokens.derive_key(index_key)
    token = tokens.make_token(key, item_id)
    assert URL_SAFE.match(token)
    assert tokens.read_token(key, token) == item_id
    other = tokens.derive_key(bytes(b ^ 0xFF for b in index_key))
    assert tokens.read_token(other, token) is None


@given(st.uuids(), st.data())
def test_any_changed_character_makes_a_token_worthless(
    item_id: uuid.UUID, data: st.DataObject
) -> None:
    token = tokens.make_token(KEY, item_id)
    position = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.").filter(
            lambda c: c != token[position]
        )
    )
    forged = token[:position] + replacement + token[position + 1 :]
    assert tokens.read_token(KEY, forged) is None


@given(st.text(max_size=120))
def test_arbitrary_text_is_never_a_token_and_never_raises(text: str) -> None:
    assert tokens.read_token(KEY, text) is None


def test_a_token_for_another_e_mail_cannot_be_made_without_the_key() -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    id_part = tokens.make_token(KEY, theirs).split(".")[0]
    mac_part = tokens.make_token(KEY, mine).split(".")[1]
    assert tokens.read_token(KEY, f"{id_part}.{mac_part}") is None


def test_the_token_key_is_derived_not_the_index_key_itself() -> None:
    index_key = os.urandom(32)
    derived = tokens.derive_key(index_key)
    assert derived != index_key
    assert len(derived) == 32
    assert tokens.derive_key(index_key) == derived  # stable: links survive restarts
    assert tokens.HKDF_INFO == b"safehold/comms/unsubscribe-token/v1"
