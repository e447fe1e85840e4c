"""LLM/VLM backends behind one small interface."""
