import sys

from critnotes.book.cli import main

sys.exit(main())
