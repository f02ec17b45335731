import sys

from robustbench_nlp.cli import main

sys.exit(main())
