import signal

pytest_plugins = ["tests.support.servers", "tests.support.s3", "tests.support.backup_db"]

# A suite started in the background by a non-interactive shell (`cmd &`) inherits SIGINT ignored, and Python then
# leaves it ignored: the tests that press Ctrl-C on coursectl (this process, or a child that inherits it) would
# test nothing. Ctrl-C is what it is on a terminal, wherever the suite was started from.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
