"""Wiki generation: structure (XML parse and repair), pages with checked citations, the concurrent and resumable
generator, and the DeepWiki-compatible wiki cache (`store`)."""
