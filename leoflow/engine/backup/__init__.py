"""Backup and restore of a Lite installation's state: one ``.tar.gz`` (mode 0600) holding a
consistent copy of the SQLite store, the home's logs, task code and generated secrets, and
the workspace, with their modes and symbolic links.

``archive`` writes a backup (safe while Lite runs: SQLite's online backup API), ``restore``
puts one back (refusing unsafe entries, setting the previous state aside), ``sqlite`` finds
and copies the store's file. Which of the home's files are Lite's own (its lock, its
remembered choices) is the caller's knowledge (``leoflow.app.lite_backup``), passed in.
"""
