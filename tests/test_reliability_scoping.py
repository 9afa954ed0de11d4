"""Reliability (issue 23, defect 11): no engine call crosses namespaces by default.

``get``, ``touch``, ``activation`` and ``forget(ids=...)`` see one namespace,
``"default"`` unless told otherwise (like ``add`` and ``recall``); an id held
by another namespace is "not found", with the same message as one that
exists nowhere.  Ids are still unique across the whole store (a schema
constraint): adding an id another namespace holds is refused, with a message
that does not say where it is.
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


def test_an_id_taken_elsewhere_is_refused_without_saying_where(mw):
    _secret(mw)
    with pytest.raises(InvalidInputError) as err:
        mw.add_many([{"text": "mine", "id": "secret-1"}], namespace="a")
    assert "'b'" not in str(err.value) and "exists" not in str(err.value)
