"""The ``telecase`` command line: :mod:`telecase.cli.main` assembles it from one module per
command group (``connector``, ``bench``, ``sla``, ``desk``, ``audit``; ``kafka``, ``run``,
``ops`` and ``dashboard`` for the top-level commands); :mod:`telecase.cli.exits` maps errors to
exit codes in one place."""
