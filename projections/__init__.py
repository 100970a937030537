"""Read models folded from ``ticket.events``: Case state (and later workloads, audit, metrics).

Each projector writes its rows and its ``(topic, partition, offset)`` checkpoint in one
transaction, so a restart or redelivery never applies an event twice. Imports only ``streams``.
"""
