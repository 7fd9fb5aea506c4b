"""The hub tests' fixtures (a site with a guest author, hubs over the real store), for
the edit stream tests here."""

from tests.live.test_hub import author, make_hub  # noqa: F401 - fixtures, used by name
