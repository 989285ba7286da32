"""API route modules: one ``router`` each, thin: parse, call a service, answer."""
