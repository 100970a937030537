"""A faithful simulator of the Salesforce REST API, served over real HTTPS.

Nobody can reach the real Salesforce from tests, the demo or benchmarks, so telecase talks to
this instead: :class:`SalesforceSimulator` serves the logins (SOAP ``login()``, OAuth
password, JWT bearer and client credentials grants), the Tooling API an admin's setup uses,
the sObject rows and external-id upserts, SOQL query with paging, composite and sObject
Collections, Lead conversion (SOAP ``convertLead()``), the daily API limit and its header,
with the real answers and error arrays, to the unmodified ``simple-salesforce`` client; an
option (``schema="standard"``) makes it an org as a new admin finds it, refusing what a real
org refuses;
:class:`SalesforceDriver` plays the agents on the Salesforce side and disturbs the org.

Modules::

    server      SalesforceSimulator: the aiohttp app over TLS, logins, REST dispatch
    routing     ApiRequest/ApiResponse, REST resources registered as data, dispatch
    rest_api    versions, limits, describe, sObject rows, external ids, query
    tooling     Tooling API: CustomField, StandardValueSet, tooling query
    composite   /composite and /composite/sobjects (collections)
    replication sobjects/T/updated and sobjects/T/deleted (Get Updated / Get Deleted)
    soql_parse  SOQL tokens and parser (the subset telecase uses)
    soql_eval   SOQL name checks, filtering, ordering, projection
    cursors     query batches, locators, nextRecordsUrl
    org         Org: everything one simulated org knows, seeded users
    store       records, audit fields, soft delete, upsert, savepoints
    values      request bodies into field values (names, types, references)
    schema      the simulated sObjects, as data
    ids         15/18-character record ids
    timefmt     Salesforce datetimes, the simulated clock
    auth        credentials, connected apps, sessions, OAuth grants (password, JWT,
                client credentials)
    security    field-level security and the Sforce-Auto-Assign header, per request
    request_log every call answered, the refused ones with their error
    jwt_bearer  JWT bearer assertion checks (RS256 with cryptography)
    soap        the SOAP login() call
    sales       Account, Opportunity, LeadStatus, SOAP convertLead()
    limits      daily API allocation, Sforce-Limit-Info
    faults      outages, latency, UNABLE_TO_LOCK_ROW
    tls         local CA and server certificate
    sim_api     the driver's /sim endpoints
    driver      SalesforceDriver, the httpx client of /sim
    client      requests_session(): simple-salesforce pointed at the simulator
    errors      SimulatorError > ApiError, OAuthError, DriverError
"""

from simulators.salesforce.client import requests_session
from simulators.salesforce.driver import SalesforceDriver
from simulators.salesforce.errors import (
    ApiError,
    DriverError,
    OAuthError,
    SimulatorError,
)
from simulators.salesforce.org import IntegrationLogin
from simulators.salesforce.server import SalesforceSimulator

__all__ = ["ApiError", "DriverError", "IntegrationLogin", "OAuthError", "SalesforceDriver",
           "SalesforceSimulator", "SimulatorError", "requests_session"]
