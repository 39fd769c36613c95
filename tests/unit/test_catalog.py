"""Which environment runs an action name or an action class (executor.environments.catalog).

Every test builds a real state directory (store records, build symlinks,
index files) and a real ``ActionCatalog`` over it; no interpreter starts.
"""

from __future__ import annotations

import pytest

from executor.environments.catalog import MISTRAL_STD_CLASSES, UnknownAction
from executor.environments.model import DEFAULT_ENV
from executor.environments.store import EnvironmentChangeFailed
from executor.environments.wheels import RUNTIME_DISTRIBUTION


def _resolved(catalog, name):
    env, info = catalog.resolve(name)
    return env.name, info.name


# -- plain and qualified names ----------------------------------------------


def test_a_plain_name_provided_by_one_environment_resolves_to_it(world):
    world.env("billing", world.action("billing.charge"))
    world.env("dns", world.action("dns.update"))
    assert _resolved(world.catalog(), "dns.update") == ("dns", "dns.update")


def test_a_qualified_name_picks_its_environment_even_when_the_plain_name_is_ambiguous(world):
    world.env("a", world.action("deploy"))
    world.env("b", world.action("deploy"))
    assert _resolved(world.catalog(), "b:deploy") == ("b", "deploy")


def test_a_qualified_name_with_an_unknown_environment_lists_the_environments(world):
    world.env("billing", world.action("billing.charge"))
    with pytest.raises(UnknownAction) as caught:
        world.catalog().resolve("nope:billing.charge")
    assert "unknown environment 'nope'" in str(caught.value)
    assert "billing, default" in str(caught.value)
    assert caught.value.plain_name is False


def test_a_qualified_name_the_environment_lacks_is_unknown_there(world):
    world.env("billing", world.action("billing.charge"))
    world.env("dns", world.action("dns.update"))
    with pytest.raises(UnknownAction, match="environment 'billing' has no action 'dns.update'"):
        world.catalog().resolve("billing:dns.update")


def test_an_unknown_plain_name_is_marked_so_callers_may_suggest_close_names(world):
    world.env("billing", world.action("billing.charge"))
    with pytest.raises(UnknownAction, match="unknown action 'billing.chrage'") as caught:
        world.catalog().resolve("billing.chrage")
    assert caught.value.plain_name is True


def test_a_plain_name_two_environments_provide_is_refused_with_both_qualified_forms(world):
    world.env("a", world.action("deploy"))
    world.env("b", world.action("deploy"))
    with pytest.raises(UnknownAction) as caught:
        world.catalog().resolve("deploy")
    message = str(caught.value)
    assert "provided by several environments (a, b)" in message
    assert "a:deploy or b:deploy" in message
    assert "--prefer" in message
    assert caught.value.plain_name is False


def test_the_environment_that_prefers_an_ambiguous_name_wins_it(world):
    world.env("a", world.action("deploy"))
    world.env("b", world.action("deploy"), preferred=["deploy"])
    assert _resolved(world.catalog(), "deploy") == ("b", "deploy")


def test_std_actions_come_from_the_default_environment_only(world):
    # Every environment carries the runtime (and so lists its std actions);
    # only the executor's own environment provides them.
    std_echo = world.action("std.echo", distribution=RUNTIME_DISTRIBUTION)
    world.default(std_echo)
    world.env("billing", std_echo, world.action("billing.charge"))
    catalog = world.catalog()
    assert _resolved(catalog, "std.echo") == (DEFAULT_ENV, "std.echo")
    assert catalog.providers("std.echo") == [DEFAULT_ENV]


def test_an_environment_that_cannot_be_inspected_provides_nothing_and_breaks_nothing(world):
    world.env("billing", world.action("billing.charge"))
    world.broken_env("broken")  # no index, no interpreter: inspecting it fails
    catalog = world.catalog()
    assert _resolved(catalog, "billing.charge") == ("billing", "billing.charge")
    assert catalog.providers("billing.charge") == ["billing"]
    with pytest.raises(UnknownAction):
        catalog.resolve("broken:anything")


def test_entries_list_every_action_with_its_environment_sorted_by_name(world):
    world.default(world.action("std.noop", distribution=RUNTIME_DISTRIBUTION))
    world.env("b", world.action("zeta"), world.action("alpha"))
    world.env("a", world.action("alpha"))
    listed = [(env, info.name) for env, info in world.catalog().entries()]
    assert listed == [("a", "alpha"), ("b", "alpha"), (DEFAULT_ENV, "std.noop"), ("b", "zeta")]


def test_a_swapped_build_is_reported_once_so_its_template_can_be_stopped(world):
    world.env("billing", world.action("billing.charge"))
    catalog = world.catalog()
    catalog.resolve("billing.charge")
    old = catalog.envs["billing"]
    world.env("billing", world.action("billing.charge"), world.action("billing.refund"))
    catalog.refresh(force=True)
    assert world.changed == [old]
    assert _resolved(catalog, "billing.refund") == ("billing", "billing.refund")


# -- classes, as Mistral's engine names actions -----------------------------


def test_a_mistral_std_class_runs_on_our_std_action_of_the_same_name(world):
    world.default(world.action("std.echo", "std_actions.basic.EchoAction"))
    env, info = world.catalog().resolve_class("mistral.actions.std_actions.EchoAction")
    assert (env.name, info.name) == (DEFAULT_ENV, "std.echo")
    assert MISTRAL_STD_CLASSES["mistral.actions.std_actions.EchoAction"] == "std.echo"


def test_a_plugin_class_resolves_to_the_one_environment_whose_action_has_it(world):
    world.env("billing", world.action("billing.charge", "billing.actions.Charge"))
    world.env("dns", world.action("dns.update", "dns.actions.Update"))
    env, info = world.catalog().resolve_class("dns.actions.Update")
    assert (env.name, info.name) == ("dns", "dns.update")


def test_an_unknown_class_is_refused_with_the_install_command(world):
    world.env("billing", world.action("billing.charge", "billing.actions.Charge"))
    with pytest.raises(UnknownAction) as caught:
        world.catalog().resolve_class("billing.actions.Refund")
    assert "no environment provides an action of class 'billing.actions.Refund'" in str(
        caught.value
    )
    assert "action-executor install --env NAME PACKAGE" in str(caught.value)


def test_a_class_two_environments_provide_is_refused_listing_both(world):
    world.env("a", world.action("deploy", "shared.Deploy"))
    world.env("b", world.action("ship", "shared.Deploy"))
    with pytest.raises(UnknownAction, match=r"several environments \(a:deploy, b:ship\)"):
        world.catalog().resolve_class("shared.Deploy")


def test_a_class_two_environments_provide_goes_to_the_one_preferring_its_name(world):
    world.env("a", world.action("deploy", "shared.Deploy"))
    world.env("b", world.action("deploy", "shared.Deploy"), preferred=["deploy"])
    env, _info = world.catalog().resolve_class("shared.Deploy")
    assert env.name == "b"


def test_a_class_registered_under_two_names_in_one_environment_resolves(world):
    # std.javascript and std.js are one class: not an ambiguity.
    world.env(
        "js",
        world.action("js.javascript", "js.actions.JavaScript"),
        world.action("js.js", "js.actions.JavaScript"),
    )
    env, info = world.catalog().resolve_class("js.actions.JavaScript")
    assert env.name == "js"
    assert info.class_path == "js.actions.JavaScript"


# -- name clashes at install time --------------------------------------------


def test_an_install_sharing_no_names_has_no_clashes(world):
    world.env("billing", world.action("billing.charge"))
    catalog = world.catalog()
    assert catalog.check_clashes("dns", [world.action("dns.update")], prefer=False) == []


def test_an_environment_never_clashes_with_its_own_names(world):
    world.env("billing", world.action("billing.charge"))
    catalog = world.catalog()
    again = [world.action("billing.charge")]
    assert catalog.check_clashes("billing", again, prefer=False) == []


def test_an_install_sharing_a_name_is_refused_and_says_how_to_resolve_it(world):
    world.env("a", world.action("deploy"), world.action("other"))
    catalog = world.catalog()
    with pytest.raises(EnvironmentChangeFailed) as caught:
        catalog.check_clashes("b", [world.action("deploy"), world.action("new")], prefer=False)
    message = str(caught.value)
    assert "deploy (also in a)" in message
    assert "new (also" not in message
    assert "The environment is unchanged" in message
    assert "--prefer" in message


def test_an_install_sharing_a_std_name_clashes_with_the_default_environment(world):
    world.default(world.action("std.echo", distribution=RUNTIME_DISTRIBUTION))
    catalog = world.catalog()
    with pytest.raises(EnvironmentChangeFailed, match=r"std\.echo \(also in default\)"):
        catalog.check_clashes("mine", [world.action("std.echo")], prefer=False)


def test_prefer_returns_the_names_won_and_takes_them_from_the_previous_winner(world):
    world.env("a", world.action("deploy"), world.action("ship"), preferred=["deploy", "ship"])
    world.env("c", world.action("ship"))
    catalog = world.catalog()
    won = catalog.check_clashes("b", [world.action("deploy")], prefer=True)
    assert won == ["deploy"]
    assert world.store.record("a").preferred == ["ship"]
