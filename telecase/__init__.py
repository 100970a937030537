"""telecase's composition root: settings, logging and the ``telecase`` command.

This is the one place that imports ``streams``, ``connectors`` and ``projections`` together and
wires them (clients, producers, engines, the clock) into processes.
"""
