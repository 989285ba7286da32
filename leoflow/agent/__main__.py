"""``python -m leoflow.agent``: the same as the ``leoflow-agent`` command."""

import sys

from leoflow.agent.main import main

sys.exit(main())
