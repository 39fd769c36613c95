"""Mistral's standard actions, written against ``actions_api``."""
