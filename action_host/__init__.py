"""The child program that loads and runs actions (console script ``action-host``).

It runs under the environment's own interpreter, speaks ``protocol`` with the
executor over a private descriptor, and runs exactly one action per process.
"""
