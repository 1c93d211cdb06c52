"""Who administers this server: ADMIN_GITHUB_USERS (logins, or numeric ids that survive a rename);
in local mode the one local user."""

from gateway.auth.users import User
from gateway.settings import Settings


class Admins:
    def __init__(self, settings: Settings) -> None:
        self._local = settings.effective_auth_mode == "local"
        entries = settings.admin_github_user_entries
        self._ids = {entry for entry in entries if entry.isdigit()}
        self._logins = {entry.lower() for entry in entries if not entry.isdigit()}

    def includes(self, user: User) -> bool:
        if self._local:
            return True
        return user.id.removeprefix("gh:") in self._ids or user.login.lower() in self._logins
