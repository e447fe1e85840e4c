"""facelens.agent.assistant: the photo assistant — understanding a question, planning tool calls, composing the
answer (offline planner or an LLM backend), the conversation state (``chat``), voice input and live mode."""
