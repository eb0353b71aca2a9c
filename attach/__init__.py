"""The terminal viewer behind `tether attach` and `tether sessions`.

cli.py             the two commands: arguments, environment, exit status
attachment.py      this terminal attached to one session: output out, keys or prompts in
viewer_link.py     the viewer socket to one session, resumed across drops
terminal.py        this process's terminal: raw or line mode, size, stdin
agent_input.py     what a line typed at an agent session means
event_text.py      agent events as safe, readable text
selection.py       which session, relay and workspace the user means
sessions_table.py  `tether sessions`' table
server_api.py      the server's REST API as the viewer uses it
errors.py          AttachError and the errors under it
"""
