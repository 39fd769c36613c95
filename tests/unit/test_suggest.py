"""The "did you mean" of a refused name, as every refusal words it."""

from __future__ import annotations

from protocol.suggest import close_names, did_you_mean

FIELDS = ["auth_token", "user_name", "project_id", "user"]


def test_the_nearest_name_ends_the_refusal():
    assert did_you_mean("auth_tokn", FIELDS) == "; did you mean auth_token?"


def test_nothing_near_says_nothing():
    assert did_you_mean("zzz", FIELDS) == ""
    assert close_names("zzz", FIELDS, prefixes=True) == []


def test_up_to_n_names_closest_first():
    names = ["nova.servers_list", "std.echo", "std.echo2", "std.http", "std.noop"]
    assert did_you_mean("std.ecko", names, n=3) == "; did you mean std.echo, std.echo2, std.noop?"


def test_a_name_that_starts_the_other_comes_first_with_prefixes():
    assert close_names("use", FIELDS, n=2, prefixes=True) == ["user_name", "user"]
    assert did_you_mean("project", FIELDS, prefixes=True) == "; did you mean project_id?"
    assert close_names("user_nam", FIELDS, n=4, prefixes=True) == ["user_name", "user"]
