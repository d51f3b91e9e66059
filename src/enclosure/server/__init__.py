"""The control-plane server: a JSON API and live events over the facade.

``create_app`` builds the Starlette application for an ``Enclosure``; ``serve``
runs it on uvicorn; ``ServerClient`` is the agent's and operator's side. Routes
are thin: every call goes through the same facade as the Python API and the CLI.

- ``_api``: the route table (``Endpoint``), body parsing, handlers;
- ``_manifests`` and ``_artifacts``: manifest versions and a run's artifacts;
- ``_auth``: tokens (stored hashed) and roles;
- ``_errors``: coded JSON errors;
- ``_hosts``: the ``Host`` header check (DNS rebinding);
- ``_hub`` and ``_sse``: live events from the decision log;
- ``_watch``: what other processes store in the same database (NOTIFY, SQLite's
  ``data_version``), fed to the hub;
- ``_wait``: an agent's long poll for a decision, woken at once;
- ``_openapi``: the schema, built from the route table;
- ``_notify``: webhooks for new approvals, kills and alerts;
- ``_ui`` and ``templates/``: the web dashboard (sessions, CSRF);
- ``_client``: the HTTP client, which waits for decisions without polling;
- ``_serve``: uvicorn.
"""

from enclosure.server._app import create_app
from enclosure.server._auth import ROLES, Identity, hash_token, issue_token
from enclosure.server._client import ServerClient, ServerError
from enclosure.server._hub import Hub
from enclosure.server._notify import Notifier
from enclosure.server._serve import Server, serve

__all__ = [
    "ROLES",
    "Hub",
    "Identity",
    "Notifier",
    "Server",
    "ServerClient",
    "ServerError",
    "create_app",
    "hash_token",
    "issue_token",
    "serve",
]
