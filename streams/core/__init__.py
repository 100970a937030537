"""The pure ticket core: routing of Telegram updates to threads, ``decide`` and ``evolve``.

No I/O, no clock, no randomness: time arrives as data (a message's ``date``, an envelope's
``received_at``), so folding the same inputs always yields the same state.
"""
