"""The core's only disk I/O: key files (``keyfile``), state directories and their locks
(``statedir``), bundle files (``bundle``). Everything else in ``pausewatch`` is bytes in, values
out; ``make lint`` holds it to that."""
