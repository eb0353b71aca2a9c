"""The `tether` command: main.py dispatches to the server, relay, viewer and hook commands."""
