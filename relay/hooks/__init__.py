"""A Claude Code started by hand, brought into Tether through its hooks.

cli.py       `tether hook`: run by Claude Code for each hook; hands it to the relay
bridge.py    the relay's Unix socket that receives them and finds (or adopts) the session
session.py   one such session: hooks in, events and hook decisions out
"""
