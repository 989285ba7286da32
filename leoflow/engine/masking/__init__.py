"""Secrets hidden from what the control plane shows: API answers, XCom values, log lines.

``keys`` masks a document by the names of its keys (``password``, ``token``...: Airflow's
list); ``values`` finds a tenant's secret values and replaces them wherever they appear in
a string. Both are pure (the standard library only), so every room that shows something
(the API, the IDE, the HTTP executor, the trigger runner's logs) can use them without
reaching up into ``auth``, which keeps the secrets themselves.
"""
