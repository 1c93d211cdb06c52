"""The AI data scientist: the tool loop (`loop`), its prompts, and the only LLM code (`llm`)."""
