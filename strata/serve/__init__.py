"""``strata serve``: the headless Alertmanager webhook service (see docs/serve.md).

Modules: ``app`` (HTTP), ``store`` / ``sqlite_store`` / ``pg_store`` (the durable
queue), ``worker`` (the pool), ``diagnosers`` (recorded or live sources), ``notify``,
``metrics``, ``logs``, ``server`` (wiring) and ``cli``. Nothing here changes the site.
"""
