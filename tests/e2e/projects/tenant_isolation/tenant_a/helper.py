# A helper module of tenant A's project (imported by its task from the project folder).
VALUE = "helper-of-a"
