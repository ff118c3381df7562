"""The shipped `llm` extension: Chat and text completions from an OpenAI-compatible HTTP server
(config: base_url, api_key, model, timeout)."""
