"""Sub-commands of the `placer` CLI that live in their own modules."""
