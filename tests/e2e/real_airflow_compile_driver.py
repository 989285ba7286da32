"""Compile many DAG files with the real Airflow, paying Airflow's import once.

Run by ``test_real_airflow_compile.py`` with a DAG environment's interpreter:
``python real_airflow_compile_driver.py ROOT OUT_DIR FILE...``. Airflow (~3 s to import)
is imported once; then each file is compiled by the compile child's own ``compile_file``
in a forked process of its own, as isolated from the others as one compile child per
file, and its result written to ``OUT_DIR/<n>.json`` (the file's position in the list).
"""

from __future__ import annotations

import json
import os
import signal
import sys

import airflow.sdk  # noqa: F401  (imported once, before the forks)

from leoflow.sdk.compile_child import compile_file

FILE_SECONDS = 60


def main(argv: list[str]) -> int:
    root, out_dir, *files = argv
    for number, path in enumerate(files):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                signal.alarm(FILE_SECONDS)
                result = compile_file(os.path.abspath(path), os.path.abspath(root))
                with open(os.path.join(out_dir, f"{number}.json"), "w", encoding="utf-8") as out:
                    json.dump(result, out)
            except BaseException:  # the parent reports the missing result
                code = 1
            finally:
                os._exit(code)
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
