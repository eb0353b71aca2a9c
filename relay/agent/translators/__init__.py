"""One translator per agent protocol: native messages in, Tether events and replies out."""
