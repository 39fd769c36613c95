"""Example OpenStack actions (see README.rst)."""
