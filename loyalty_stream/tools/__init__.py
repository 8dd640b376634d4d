"""Operator and developer tools: the ``loyalty-stream`` CLI (the composition root: it starts the
services), the local broker, process helpers, offset operations, a webhook receiver, the domain compiler."""
