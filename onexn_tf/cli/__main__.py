"""``python -m onexn_tf.cli``: the ``onexn`` command."""

import sys

from onexn_tf.cli import main

sys.exit(main())
