"""Who is calling and what they may do: users, passkeys, invites, browser sessions, roles.

roles.py             Role, Grant, Principal (the authorization decisions)
records.py           users, passkeys, invites, browser sessions as stored
tokens.py            random secrets and their stored hashes
ceremonies.py        WebAuthn registration and login (the `webauthn` package)
browser_sessions.py  cookie sessions: timeouts, revocation, their open sockets
service.py           Identity: the operations the HTTP layer calls, each audited
console_token.py     the loopback credential of `tether attach`
"""
