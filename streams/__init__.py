"""telecase streams: the event schema, the pure ticket core, and the stream runtimes around it.

Nothing in this package imports ``connectors`` or ``projections``; the core (``streams.core``)
imports no I/O library and reads no clock (``tests/unit/core/test_purity.py`` enforces it).
"""
