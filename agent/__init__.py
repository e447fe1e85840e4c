"""facelens.agent: the assistant (planning, backends, conversation, sessions) and the CLI."""
