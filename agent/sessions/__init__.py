"""facelens.agent.sessions: recorded sessions — ingest (one file or a batch, optionally on Ray), the store
(SQLite or PostgreSQL), the analyst's questions (intent, query, summary) and reports."""
