"""Test plugin sources, installed by ``tests/conftest.py`` as a real distribution."""
