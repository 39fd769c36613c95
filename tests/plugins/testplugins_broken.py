"""A plugin module that cannot be imported."""

import this_module_does_not_exist  # noqa: F401
