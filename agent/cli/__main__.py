import sys

from facelens.agent.cli import main

sys.exit(main())
