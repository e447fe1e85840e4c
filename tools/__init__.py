"""facelens.tools: one module per capability, each usable without the agent.

Importing this package is cheap: models load on first use.
"""
