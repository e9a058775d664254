"""The subcommands of ``xprobe``, one module each; :mod:`xlingual_probe.cli` assembles them."""
