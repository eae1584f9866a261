"""Pure builders: each takes the topology (and paths/secrets) and returns config text.

Nothing here starts a process, reads a file outside ``templates`` or writes one;
the orchestrator (``deploy.cluster``) writes what these return.
"""
