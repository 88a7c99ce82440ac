"""The model layer: one typed interface (`ChatModel`, `Embedder`) over every provider."""
