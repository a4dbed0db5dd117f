"""The `pgpart` command: options, output formats, exit codes."""
