"""Reference implementation of RULES.md and random history generators."""
