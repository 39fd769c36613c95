"""The probe names the real cause when no process starts in a user namespace."""

from executor.sandbox.probe import namespace_problem


def test_code_out_of_the_views_sight_is_named_instead_of_user_namespaces():
    problem = "Traceback (most recent call last):\nModuleNotFoundError: No module named 'executor'"
    hint = namespace_problem(problem)
    assert "does not show this executor's own code" in hint
    assert "No module named 'executor'" in hint
    assert "may be off" not in hint


def test_a_refused_namespace_points_at_the_sysctls():
    hint = namespace_problem("unshare: Operation not permitted")
    assert "user.max_user_namespaces" in hint
