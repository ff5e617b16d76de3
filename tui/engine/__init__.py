"""The engine: everything that runs without the console (no Textual here, enforced by the
import contracts in pyproject.toml). Rules and the board they live on, the events the
server emits, sessions, settings, the pyftpdlib handlers and the server, profiles, the
journal and the control API. Headless mode, tests, the API and the console all use it."""
