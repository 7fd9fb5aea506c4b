"""Moving comments in and out: imports from Disqus, WordPress and our own JSON Lines
export, and that export. Parsers stream their file and yield :mod:`records`; the
importer orders them and writes them through :mod:`comments.store.transfer`."""
