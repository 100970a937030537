"""SLA policy, business-time calendars and the per-ticket SLA clock (pure: no I/O, no clock).

- :mod:`streams.sla.policy`: the ``[sla]`` table of a policy file, validated; tier selection.
- :mod:`streams.sla.calendar`: business-time arithmetic across weekends, holidays and DST.
- :mod:`streams.sla.clock`: ``start``/``observe``/``due``/``fire`` over a frozen ``SlaState``.
- :mod:`streams.sla.signals`: what firing says (warnings, breaches, met targets, escalations).
"""
