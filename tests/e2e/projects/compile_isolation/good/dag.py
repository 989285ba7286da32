"""An ordinary project: imports a helper of its folder at compile time, and says which user
compiled it in its description."""

import os

from helper import GREETING

from leoflow import DAG, task

with DAG("iso_compile_good", schedule=None, description=f"compiled by uid {os.getuid()}"):
    @task
    def greet() -> dict:
        return {"greeting": GREETING, "uid": os.getuid()}

    greet()
