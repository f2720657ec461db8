"""The build pipeline: the stages after loading, and the finishers run over the written site
(the search index)."""
