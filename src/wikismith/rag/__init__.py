"""Repository RAG: read or clone a repository, filter, chunk, embed (locally by default), index, retrieve."""
