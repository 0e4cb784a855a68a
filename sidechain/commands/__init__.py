"""Click command groups that the `sidechain` CLI registers (e.g. `keys`)."""
