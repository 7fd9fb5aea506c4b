"""Publish/subscribe between the nodes of one deployment, picked by URL scheme."""

from comments.infra.broker.base import Broker, BrokerUnavailable, create_broker

__all__ = ["Broker", "BrokerUnavailable", "create_broker"]
