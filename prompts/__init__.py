"""Prompt templates and few-shot exemplar definitions (YAML/Markdown, no code besides the loader)."""
