#!/bin/sh
# Start the local RabbitMQ for the service tests (tests/service) when it is
# installed but stopped. Nothing happens when it runs already or is not
# installed: the tests then fail and say how to get a broker.
set -u
command -v rabbitmqctl >/dev/null 2>&1 || { echo "RabbitMQ is not installed: tests/service will fail" >&2; exit 0; }
if rabbitmqctl -q status >/dev/null 2>&1; then
    exit 0
fi
echo "starting RabbitMQ (rabbitmq-server -detached)" >&2
rabbitmq-server -detached || exit 0
# Wait until the node and its AMQP listener answer (up to 60 s).
i=0
while [ $i -lt 60 ]; do
    if rabbitmqctl -q await_startup >/dev/null 2>&1; then
        exit 0
    fi
    i=$((i + 1))
    sleep 1
done
echo "RabbitMQ did not start within 60 s" >&2
