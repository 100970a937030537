"""Which faults a stage retries as its own infrastructure's (streams.runtime.quarantine): the
database's connection lost is, whether SQLAlchemy wrapped the driver's error or the driver
raised it itself (the projectors' COPY runs on psycopg's own cursor); a row the database
refuses is a record's fault, either way."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pg_errors
from sqlalchemy import exc as sa_exc

from streams.runtime.quarantine import is_infrastructure


@pytest.mark.parametrize("fault", [
    psycopg.OperationalError("consuming input failed: server closed the connection"),
    pg_errors.AdminShutdown("terminating connection due to administrator command"),
    pg_errors.DeadlockDetected("deadlock detected"),
    psycopg.InterfaceError("the connection is closed"),
    sa_exc.OperationalError("COPY ...", {}, psycopg.OperationalError("server closed")),
])
def test_the_database_unavailable_is_retried_however_it_is_raised(fault: Exception) -> None:
    assert is_infrastructure(fault)


@pytest.mark.parametrize("fault", [
    pg_errors.StringDataRightTruncation("value too long for type character varying(40)"),
    pg_errors.UniqueViolation("duplicate key value violates unique constraint"),
    pg_errors.NumericValueOutOfRange("integer out of range"),
    sa_exc.DataError("INSERT ...", {}, pg_errors.StringDataRightTruncation("too long")),
    ValueError("a record the code cannot handle"),
])
def test_a_row_the_database_refuses_is_a_records_fault(fault: Exception) -> None:
    assert not is_infrastructure(fault)
