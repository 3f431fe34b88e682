"""Personal logins for people (commune clerks now, province officers next): passwords hashed
with Argon2, server-side sessions in a cookie, the ``Origin`` check of state-changing requests,
and sign-in limits that slow an attacker without locking anyone out.

Written once for every web door of baocao: the gateway's commune app uses it, the dashboard's
officer logins will. It knows nothing of HTTP frameworks; the door turns its answers into
cookies and status codes. Why each choice was made, and the threat model: docs/commune-app.md.
"""

from baocao.core.logins.cookie import SessionCookie
from baocao.core.logins.limits import SignInLimiter
from baocao.core.logins.origin import origin_allowed
from baocao.core.logins.passwords import PasswordHasher, generate_password
from baocao.core.logins.service import SignIn, SignInOutcome
from baocao.core.logins.store import (
    LOGIN_SCHEMA,
    Login,
    LoginDatabase,
    LoginError,
    LoginStore,
    Session,
)

__all__ = [
    "LOGIN_SCHEMA",
    "Login",
    "LoginDatabase",
    "LoginError",
    "LoginStore",
    "PasswordHasher",
    "Session",
    "SessionCookie",
    "SignIn",
    "SignInLimiter",
    "SignInOutcome",
    "generate_password",
    "origin_allowed",
]
