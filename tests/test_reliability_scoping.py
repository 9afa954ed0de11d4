"""Reliability (issue 23, defect 11): no engine call crosses namespaces by default.

``get``, ``touch``, ``activation`` and ``forget(ids=...)`` see one namespace,
``"default"`` unless told otherwise (like ``add`` and ``recall``); an id held
by another namespace is "not found", with the same message as one that
exists nowhere.  Ids are unique per namespace (schema version 4): two
namespaces may hold the same id, and each call sees its own namespace's.
"""

from __future__ import annotations

import pytest
from backends import BACKENDS, dispose, make_store

from memoryweave_core import HashingEmbedder, MemoryWeave
from memoryweave_core.errors import InvalidInputError, TraceNotFoundError


@pytest.fixture(params=BACKENDS)
def mw(request, tmp_path):
    store = make_store(request.param, tmp_path / "s.db")
    with MemoryWeave(store=store, embedder=HashingEmbedder(64)) as m:
        yield m
        dispose(request.param, store)


def _secret(m: MemoryWeave):
    return m.add_many([{"text": "the launch code is 1234", "id": "secret-1"}], namespace="b")[0]


def test_get_without_a_namespace_does_not_see_another_namespace(mw):
    _secret(mw)
    with pytest.raises(TraceNotFoundError) as err:
        mw.get("secret-1")
    assert "namespace" not in str(err.value) or "'b'" not in str(err.value)
    assert mw.get("secret-1", namespace="b").text == "the launch code is 1234"


def test_touch_does_not_change_another_namespaces_activation(mw):
    _secret(mw)
    before = mw.activation("secret-1", namespace="b")
    mw.touch(["secret-1"])
    mw.touch(["secret-1"], namespace="a")
    assert mw.activation("secret-1", namespace="b") == before
    mw.touch(["secret-1"], namespace="b")
    assert mw.activation("secret-1", namespace="b") > before


def test_activation_and_forget_by_id_see_one_namespace(mw):
    _secret(mw)
    with pytest.raises(TraceNotFoundError):
        mw.activation("secret-1")
    with pytest.raises(TraceNotFoundError) as err:
        mw.forget("secret-1")
    unknown = pytest.raises(TraceNotFoundError)
    with unknown as err2:
        mw.forget("nowhere-1")
    assert str(err.value).replace("secret-1", "X") == str(err2.value).replace("nowhere-1", "X")
    assert mw.count("b") == 1
    assert mw.forget("secret-1", namespace="b") == 1


def test_two_namespaces_add_the_same_id_and_each_sees_only_its_own(mw):
    """Ids are unique per namespace: the add in "a" succeeds although "b" holds
    the id, and every call by id (get, recall, update, history, touch,
    activation, set_expiry, forget) sees its own namespace's trace only."""
    secret = _secret(mw)
    mine = mw.add_many([{"text": "my shopping list: apples and pears", "id": "secret-1"}], namespace="a")[0]
    assert (mine.id, secret.id) == ("secret-1", "secret-1")
    assert mw.get("secret-1", namespace="a").text == mine.text
    assert mw.get("secret-1", namespace="b").text == secret.text
    assert [r.trace.text for r in mw.recall("launch code", k=5, namespace="a")] == [mine.text]
    with pytest.raises(InvalidInputError, match="already exists in namespace 'a'"):  # its own namespace only
        mw.add_many([{"text": "again", "id": "secret-1"}], namespace="a")
    updated = mw.update("secret-1", text="my shopping list: apples, pears and figs", namespace="a")
    assert [t.text for t in mw.history("secret-1", namespace="a")] == [mine.text, updated.text]
    assert [t.text for t in mw.history("secret-1", namespace="b")] == [secret.text]
    before = mw.activation("secret-1", namespace="b")
    mw.touch(["secret-1", "secret-1"], namespace="a")
    assert mw.activation("secret-1", namespace="b") == before
    assert mw.activation("secret-1", namespace="a") > before
    assert mw.set_expiry("secret-1", ttl=60, namespace="a") == 1
    assert mw.get("secret-1", namespace="b").expires_at is None
    assert mw.forget("secret-1", namespace="a") == 2  # with its archived version
    assert mw.get("secret-1", namespace="b").text == secret.text and mw.count("b") == 1
    with pytest.raises(TraceNotFoundError):
        mw.get("secret-1", namespace="a")


def test_expiry_purges_the_expired_namespace_s_id_only(mw):
    clock = [1_700_000_000.0]
    mw.clock = lambda: clock[0]
    mw.add_many([{"text": "a short-lived note", "id": "n1", "ttl": 10}], namespace="a")
    mw.add_many([{"text": "a lasting note", "id": "n1"}], namespace="b")
    clock[0] += 60
    assert mw.prune() == 1
    assert mw.count("a") == 0 and mw.get("n1", namespace="b").text == "a lasting note"


