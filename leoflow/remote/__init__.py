"""The HTTP client of a Leoflow server's API, for the remote commands (``leoflow push``,
``runs``, ``logs``, ``dags``).

It is a client like any other: it speaks HTTP to ``/api/v2`` and ``/api/leoflow`` and never
imports the engine. ``target`` says where the server is and who we are (flags, environment,
profiles), ``client`` sends one request and turns every failure into a ``RemoteError`` a
person can act on, ``calls`` holds what the commands ask the server (paths, pages, following
a run or a log, pushing a dag.json). ``leoflow.app.cmd_remote`` parses flags and prints.
"""
