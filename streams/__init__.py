"""telecase streams: the event schema, the pure ticket core, and the stream runtimes around it.

Nothing in this package imports ``connectors`` or ``projections``; the pure packages
(``schema``, ``core``, ``sla``, ``assignment``) import no I/O library and read no clock (the
import-linter contracts in pyproject.toml and ``tests/unit/core/test_purity.py`` enforce it).
"""
