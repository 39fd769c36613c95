"""Mistral's executor service over oslo.messaging: ``action-executor serve``.

This package is the only code in the project that imports oslo.messaging,
oslo.config and oslo.log. It speaks Mistral 23's executor wire protocol on
RabbitMQ and runs every action through the public ``Executor`` API, so an
engine cannot tell it from ``mistral-server --server executor``.
"""
