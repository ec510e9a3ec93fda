"""The --option KEY=VALUE argument of the benchmark scripts: delegate options for every onexn interpreter."""


def add_argument(parser):
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a delegate option for every onexn interpreter (repeatable; num_threads is set per "
                             "interpreter)")


def parse(parser, items, flag="--option"):
    """The options of KEY=VALUE items (given with `flag`) as a dict; a malformed item is a usage error."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or key == "num_threads":
            parser.error(f"{flag} {item!r}: want KEY=VALUE, not num_threads")
        options[key] = value
    return options
