"""The refusals and fallbacks of ``mistral_primitive`` beside oslo's rules.

tests/test_serialization_mistral.py holds the conversions to what oslo's
``to_primitive`` makes; these pin what happens when a conversion fails: a
value on its own is refused naming its path, a part of a container makes
the container its ``str``, as oslo's ``TypeError`` fallback does.
"""

from __future__ import annotations

import collections

import pytest

from actions_api.exceptions import SerializationError
from actions_api.serialization import mistral_primitive


class _Slots:
    __slots__ = ()


class _GoneStream:
    def __iter__(self):
        raise OSError("the stream is gone")


class _ClassLevelIter:
    __iter__ = 5

    def __init__(self) -> None:
        self.x = 1


def test_undecodable_bytes_alone_are_refused_naming_the_path():
    with pytest.raises(SerializationError, match=r"^bytes at \$\.d are not UTF-8 \("):
        mistral_primitive(b"\xff", "$.d")


def test_an_object_without_attributes_alone_is_refused_naming_the_path():
    with pytest.raises(SerializationError, match=r"_Slots at \$\.d cannot be sent .*not iterable"):
        mistral_primitive(_Slots(), "$.d")


def test_an_iterable_that_raises_is_refused_naming_the_error():
    with pytest.raises(
        SerializationError,
        match=r"_GoneStream at \$ could not be converted the way Mistral does: "
        r"OSError: the stream is gone$",
    ):
        mistral_primitive(_GoneStream())


def test_a_class_level_iter_that_is_no_function_makes_the_value_its_str():
    value = _ClassLevelIter()
    assert mistral_primitive(value) == str(value)


@pytest.mark.parametrize("part", [b"\xff", _Slots()], ids=["bytes", "no_attributes"])
def test_a_part_that_cannot_be_converted_makes_its_container_its_str(part):
    assert mistral_primitive([part]) == str([part])
    assert mistral_primitive({"k": part}) == str({"k": part})


def test_a_cycle_through_an_iterable_ends_as_a_str_at_the_recursion_limit():
    cycle: collections.deque = collections.deque()
    cycle.append(cycle)
    converted = mistral_primitive(cycle)
    while isinstance(converted, list):
        converted = converted[0]
    assert isinstance(converted, str) and converted.startswith("deque([")


def test_leaf_values_become_text_and_objects_their_attributes():
    class Server:
        def __init__(self) -> None:
            self.error = ValueError("x")
            self.tags = {"a"}

    assert mistral_primitive(Server()) == {"error": "ValueError('x')", "tags": ["a"]}
    assert mistral_primitive(len) == "<built-in function len>"
