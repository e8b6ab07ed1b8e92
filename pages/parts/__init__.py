"""What the six pages share: the settings form (built from the schema), the live panel, every chart,
the runs table and queue, vector sources and the cached resources of a server.

Parts call `core`; `core` never imports them.
"""
