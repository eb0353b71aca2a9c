"""Who is calling and what they may do: users, passkeys, invites, browser sessions, roles.

roles.py             Role, Grant, Principal (the authorization decisions)
records.py           users, passkeys, invites, browser sessions as stored
tokens.py            random secrets and their stored hashes
ceremonies.py        WebAuthn registration and login (the `webauthn` package)
browser_sessions.py  cookie sessions: timeouts, revocation, their open sockets
service.py           Identity: the operations the HTTP layer calls, each audited, made of
  context.py         what they share (store, audit trail, config, clock, limits)
  sign_in.py         who is calling; passkey login
  terminal_logins.py `tether login`: a terminal's token, approved with a passkey
  registration.py    passkey registration
  invites.py         setup and invite links
  account.py         the signed-in user's own sessions and passkeys
  users.py           roles, grants, disabling users
console_token.py     the loopback credential of `tether attach`
"""
